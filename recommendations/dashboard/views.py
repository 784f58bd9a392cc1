"""The staff dashboard: pages inside the Django admin (same login, staff only), each reading
the database and Redis only when asked. Charts are drawn on the server (dashboard/charts)."""

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from recommendations import store
from recommendations.dashboard import charts, queries
from recommendations.models import Experiment, ModelRun
from recommendations.services import experiments
from recommendations.services.pipeline import rollback_recommendations

PAGES = [
    ("overview", "Overview"),
    ("pipeline", "Pipeline"),
    ("models", "Models"),
    ("lists", "Served lists"),
    ("user", "One user's view"),
    ("experiments", "Experiments"),
]
PER_PAGE = 15
CHART_RUNS = 20


def _page(request: HttpRequest, template: str, page: str, **context: object) -> TemplateResponse:
    title = dict(PAGES)[page]
    return TemplateResponse(
        request,
        f"admin/picks_dashboard/{template}",
        {
            **admin.site.each_context(request),
            "title": f"Dashboard: {title}",
            "pages": PAGES,
            "current": page,
            **context,
        },
    )


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} seconds"


def _paged(request: HttpRequest, rows: object) -> object:
    return Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))


def overview(request: HttpRequest) -> TemplateResponse:
    data = queries.overview()
    events, daily = data.events, data.orders_users
    return _page(
        request,
        "overview.html",
        "overview",
        data=data,
        period=_duration(settings.PICKS_PIPELINE_PERIOD_SECONDS),
        stale_after=_duration(
            settings.PICKS_PIPELINE_PERIOD_SECONDS * settings.PICKS_STALE_AFTER_PERIODS
        ),
        events_chart=charts.daily_stacked(
            events.days,
            events.series,
            title=f"Events per day by kind, last {data.window_days} days",
            ylabel="events",
        ),
        orders_chart=charts.daily_lines(
            daily.days,
            {"orders": daily.series["orders"]},
            title="Orders per day",
            ylabel="orders",
        ),
        users_chart=charts.daily_lines(
            daily.days,
            {"new users": daily.series["new users"]},
            title="New users per day",
            ylabel="users",
        ),
    )


def pipeline(request: HttpRequest) -> TemplateResponse:
    runs = _paged(request, queries.pipeline_runs())
    labels, jobs = queries.step_durations(list(queries.pipeline_runs()[:CHART_RUNS]))
    return _page(
        request,
        "pipeline.html",
        "pipeline",
        lock=queries.pipeline_lock(),
        runs=runs,
        single=queries.single_job_runs()[:PER_PAGE],
        chart=charts.durations(
            labels, jobs, title=f"Seconds per job, last {len(labels)} pipeline runs"
        ),
    )


def models(request: HttpRequest) -> TemplateResponse:
    kind = request.GET.get("kind") or None
    if kind is not None and kind not in ModelRun.Kind.values:
        raise Http404(f"no model kind {kind!r}")
    sections = []
    for history in queries.model_history():
        m = history.metrics
        sections.append(
            {
                "history": history,
                "chart": history_chart(
                    history.runs, m, title=f"{history.label}: {m.metric} per run"
                ),
                "trials_chart": charts.trials(history.trial_points, metric=m.metric)
                if history.trial_points
                else "",
            }
        )
    runs = _paged(request, queries.model_runs(kind))
    for run in runs:
        run.metric_text = queries.key_metrics(run)
        run.param_text = queries.summary(run.params)
    return _page(
        request,
        "models.html",
        "models",
        sections=sections,
        kinds=ModelRun.Kind.choices,
        kind=kind,
        runs=runs,
    )


def history_chart(runs: list[ModelRun], m: queries.KindMetrics, *, title: str) -> str:
    """A kind's runs (oldest first): its gate metric and baseline per run, published marked."""
    return charts.metric_history(
        [r.started_at for r in runs],
        [r.metrics.get(m.metric) for r in runs],
        [r.metrics.get(m.baseline) for r in runs] if m.baseline else [],
        [r.published for r in runs],
        title=title,
        metric=m.metric,
        baseline_name=m.baseline_name,
    )


def lists(request: HttpRequest) -> TemplateResponse:
    return _page(
        request,
        "lists.html",
        "lists",
        families=queries.family_states(),
        can_roll_back=request.user.has_perm("recommendations.rollback_lists"),
    )


def rollback(request: HttpRequest, family: str) -> HttpResponse:
    """Serve a family's previous version again, after a confirmation (as the command does)."""
    if family not in store.FAMILIES:
        raise Http404(f"no list family {family!r}")
    if not request.user.has_perm("recommendations.rollback_lists"):
        raise PermissionDenied("Rolling back needs the 'Can roll back the served lists' right.")
    if request.method == "POST":
        outcome = rollback_recommendations(families=(family,))[family]
        level = messages.SUCCESS if outcome.startswith("now serving") else messages.WARNING
        messages.add_message(request, level, f"{family}: {outcome}")
        return redirect(reverse("picks_dashboard:lists"))
    states = {state.family: state for state in queries.family_states()}
    return _page(request, "rollback.html", "lists", state=states[family])


def user_view(request: HttpRequest) -> TemplateResponse:
    asked = request.GET.get("q", "")
    context: dict[str, object] = {"asked": asked}
    if asked:
        try:
            user = queries.find_user(asked)
        except queries.NoSuchUser as exc:
            context["error"] = str(exc)
        else:
            context.update(
                shown_user=user,
                lists=queries.lists_for(user.pk),
                variants=queries.variants_of(user.pk),
                events=queries.recent_events(user.pk),
            )
    return _page(request, "user.html", "user", **context)


def experiment_list(request: HttpRequest) -> TemplateResponse:
    return _page(
        request,
        "experiments.html",
        "experiments",
        experiments=Experiment.objects.prefetch_related("variants"),
    )


def experiment_report(request: HttpRequest, name: str) -> TemplateResponse:
    experiment = Experiment.objects.filter(name=name).first()
    if experiment is None:
        raise Http404(f"no experiment {name!r}")
    report = experiments.report(experiment)
    outcomes = list(experiments.OUTCOMES)
    return _page(
        request,
        "experiment.html",
        "experiments",
        experiment=experiment,
        report=report,
        outcomes=outcomes,
        chart=charts.variant_rates(
            [a.name for a in report.arms],
            {o: [a.per_user[o] for a in report.arms] for o in outcomes},
            title=f"{experiment.name}: users who did it, per variant",
        ),
    )
