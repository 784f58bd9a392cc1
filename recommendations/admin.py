from collections.abc import Callable

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

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
    """Read-only: the scores are derived from events and orders by update_interactions (an
    edit here would not survive a rebuild, nor reach training's score snapshot)."""

    list_display = ("user", "product", "score", "last_updated_at", "batch")
    search_fields = ("user__username", "product__sku")
    raw_id_fields = ("user", "product")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BatchMetadata)
class BatchMetadataAdmin(admin.ModelAdmin):
    list_display = ("job_name", "watermark", "updated_at")


def metric_chart(values: list[float], *, width: int = 600, height: int = 120) -> str:
    """An inline SVG line of `values` (oldest first), scaled to the largest."""
    if len(values) < 2:
        return ""
    top = max(max(values), 1e-9)
    step = width / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - v / top * (height - 10):.1f}" for i, v in enumerate(values)
    )
    return format_html(
        '<svg width="{}" height="{}" style="background:#f8f8f8">'
        '<polyline fill="none" stroke="#417690" stroke-width="2" points="{}"/></svg>'
        "<div>max {}</div>",
        width,
        height,
        points,
        f"{top:.4f}",
    )


def metric_column(name: str, description: str, *, digits: int = 4) -> Callable:
    """A list column showing one of a run's metrics ("-" where the run has none)."""

    @admin.display(description=description)
    def column(_admin: admin.ModelAdmin, run: ModelRun) -> str:
        value = run.metrics.get(name)
        return f"{value:.{digits}f}" if value is not None else "-"

    return column


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "started_at",
        "duration",
        "ndcg",
        "baseline_ndcg",
        "auc",
        "bias_auc",
        "published",
        "decision",
    )
    list_filter = ("kind", "status", "published")
    chart_metric = "ndcg@10"
    chart_runs = 50

    ndcg = metric_column("ndcg@10", "nDCG@10")
    baseline_ndcg = metric_column("baseline_ndcg@10", "popularity nDCG@10")
    auc = metric_column("auc", "AUC")
    bias_auc = metric_column("bias_auc", "bias model AUC")
    duration = metric_column("duration_seconds", "seconds", digits=1)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        runs = ModelRun.objects.filter(kind=ModelRun.Kind.ALS, status=ModelRun.Status.SUCCEEDED)
        values = [
            r.metrics[self.chart_metric]
            for r in reversed(runs[: self.chart_runs])
            if self.chart_metric in r.metrics
        ]
        context = {
            **(extra_context or {}),
            "metric_chart": metric_chart(values),
            "chart_title": f"ALS {self.chart_metric} over the last {len(values)} runs",
        }
        return super().changelist_view(request, extra_context=context)

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
