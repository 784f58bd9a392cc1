from django.contrib import admin

from recommendations.models import (
    BatchMetadata,
    Interaction,
    ModelRun,
    Order,
    OrderLine,
    UserProductInteraction,
)


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "item", "kind", "value", "occurred_at", "received_at")
    list_filter = ("kind", "occurred_at")
    search_fields = ("user__username", "user__external_id", "item__sku", "item__title")
    raw_id_fields = ("user", "item")
    date_hierarchy = "occurred_at"
    list_select_related = ("user", "item")


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    raw_id_fields = ("item",)
    extra = 0


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("invoice_no", "customer", "country", "ordered_at", "is_cancelled")
    list_filter = ("is_cancelled", "country")
    search_fields = ("invoice_no", "customer__username", "customer__external_id")
    raw_id_fields = ("customer",)
    inlines = [OrderLineInline]


@admin.register(UserProductInteraction)
class UserProductInteractionAdmin(admin.ModelAdmin):
    list_display = ("user", "product", "score", "last_updated_at")
    search_fields = ("user__username", "product__sku")
    raw_id_fields = ("user", "product")


@admin.register(BatchMetadata)
class BatchMetadataAdmin(admin.ModelAdmin):
    list_display = ("job_name", "watermark", "updated_at")


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "started_at", "finished_at", "published", "decision")
    list_filter = ("kind", "status", "published")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
