from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "external_id", "is_service", "is_staff", "date_joined")
    list_filter = ("is_service", "is_staff", "is_active")
    search_fields = ("username", "email", "external_id")
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Picks", {"fields": ("external_id", "is_service")}),
    )
