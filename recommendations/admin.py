from collections.abc import Callable

from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from recommendations.dashboard import queries
from recommendations.dashboard.views import history_chart
from recommendations.models import (
    BatchMetadata,
    Experiment,
    Interaction,
    JobRun,
    ModelRun,
    Order,
    OrderLine,
    UserProductInteraction,
    Variant,
)
from recommendations.services import experiments

# The admin's home page links the staff dashboard (recommendations/dashboard).
admin.site.index_template = "admin/picks_index.html"


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


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """Read-only: written by the jobs themselves (recommendations/services/job_runs)."""

    list_display = ("id", "job", "pipeline", "status", "started_at", "finished_at", "outcome")
    list_filter = ("job", "status")
    raw_id_fields = ("pipeline",)

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ("position", "name", "share", "lists", "params", "is_control")


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    """Edit variants and shares here; start, stop and promote with the actions (or the
    `experiment` command). A running experiment's new shares move only the users they must."""

    list_display = ("name", "family", "status", "started_at", "stopped_at", "promoted", "report")
    list_filter = ("family", "status")
    readonly_fields = ("status", "salt", "started_at", "stopped_at", "promoted")
    exclude = ("buckets",)
    inlines = [VariantInline]
    actions = ["start_experiments", "stop_experiments"]

    @admin.display(description="report")
    def report(self, experiment: Experiment) -> str:
        url = reverse("picks_dashboard:experiment", args=[experiment.name])
        return format_html('<a href="{}">report</a>', url)

    def save_related(self, request: HttpRequest, form: object, formsets: object, change: bool):
        super().save_related(request, form, formsets, change)
        experiment = form.instance
        if experiment.status == Experiment.Status.RUNNING:
            try:
                experiments.reshare(experiment)
            except experiments.ExperimentError as exc:
                self.message_user(request, f"shares not applied: {exc}", messages.ERROR)

    @admin.action(description="Start the selected experiments")
    def start_experiments(self, request: HttpRequest, queryset: object) -> None:
        for experiment in queryset:
            try:
                experiments.start(experiment)
                self.message_user(request, f"{experiment.name}: running")
            except experiments.ExperimentError as exc:
                self.message_user(request, f"{experiment.name}: {exc}", messages.ERROR)

    @admin.action(description="Stop the selected experiments (everyone gets the default)")
    def stop_experiments(self, request: HttpRequest, queryset: object) -> None:
        for experiment in queryset.filter(status=Experiment.Status.RUNNING):
            experiments.stop(experiment)
            self.message_user(request, f"{experiment.name}: stopped")


@admin.register(BatchMetadata)
class BatchMetadataAdmin(admin.ModelAdmin):
    list_display = ("job_name", "watermark", "updated_at")


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
    chart_runs = 50

    ndcg = metric_column("ndcg@10", "nDCG@10")
    baseline_ndcg = metric_column("baseline_ndcg@10", "popularity nDCG@10")
    auc = metric_column("auc", "AUC")
    bias_auc = metric_column("bias_auc", "bias model AUC")
    duration = metric_column("duration_seconds", "seconds", digits=1)

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        als = queries.KIND_METRICS[ModelRun.Kind.ALS]
        runs = queries.succeeded_runs(ModelRun.Kind.ALS, limit=self.chart_runs, having=als.metric)
        title = f"ALS {als.metric} over the last {len(runs)} runs"
        context = {
            **(extra_context or {}),
            "metric_chart": history_chart(runs, als, title=title) if runs else "",
        }
        return super().changelist_view(request, extra_context=context)

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
