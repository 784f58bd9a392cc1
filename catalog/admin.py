from django.contrib import admin
from django.utils.html import format_html

from catalog.models import Category, Item


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ("name", "slug")
    search_fields = ("name",)
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("thumbnail", "sku", "title", "category", "brand", "price", "is_active")
    list_filter = ("is_active", "category", "brand", "colour")
    search_fields = ("sku", "title", "description", "brand")
    readonly_fields = ("thumbnail", "created_at", "updated_at")
    list_select_related = ("category",)

    @admin.display(description="image")
    def thumbnail(self, item: Item) -> str:
        if not item.image:
            return "-"
        return format_html('<img src="{}" style="height:48px">', item.image.url)
