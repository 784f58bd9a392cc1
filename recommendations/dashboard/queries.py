"""What the staff dashboard shows, read from PostgreSQL (aggregated in SQL) and Redis only
when a staff page asks: nothing here runs on the public read path."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalog.models import Item
from recommendations import selectors, store
from recommendations.models import Interaction, JobRun, ModelRun, Order
from recommendations.services import experiments
from recommendations.services.pipeline import LOCK
from recommendations.services.training.model_runs import latest_tuned_run

User = get_user_model()
PAST_DAYS_SECONDS = 600


# ---- overview ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Daily:
    """Counts per day over a window, zeros included, one sequence per series."""

    days: list[dt.date]
    series: dict[str, list[int]]


@dataclass(frozen=True)
class FamilyState:
    family: str
    version: int | None
    previous: int | None
    meta: dict
    previous_meta: dict
    age_seconds: float | None
    stale: bool

    @property
    def built_at(self) -> dt.datetime | None:
        return _when(self.meta.get("built_at"))

    @property
    def previous_built_at(self) -> dt.datetime | None:
        return _when(self.previous_meta.get("built_at"))


def _when(text: object) -> dt.datetime | None:
    return parse_datetime(text) if isinstance(text, str) else None


def _daily(rows: Sequence[dict], *, since: dt.date, today: dt.date, series: Sequence[str]) -> Daily:
    days = [since + dt.timedelta(days=n) for n in range((today - since).days + 1)]
    at = {day: n for n, day in enumerate(days)}
    counts = {name: [0] * len(days) for name in series}
    for row in rows:
        if row["day"] in at and row["series"] in counts:
            counts[row["series"]][at[row["day"]]] = row["n"]
    return Daily(days, counts)


def events_per_day(*, since: dt.datetime, today: dt.date) -> Daily:
    """Events per day and kind since `since`. The days before today are one aggregate over
    millions of rows, so it is kept in the cache for PAST_DAYS_SECONDS (a late event for an
    earlier day shows after that); today's come from the index on `occurred_at`, live."""
    midnight = dt.datetime.combine(today, dt.time.min, tzinfo=dt.UTC)
    key = f"dashboard:events-per-day:{since.date()}:{today}"
    past = cache.get(key)
    if past is None:
        past = _event_rows(Q(occurred_at__gte=since, occurred_at__lt=midnight))
        cache.set(key, past, PAST_DAYS_SECONDS)
    rows = past + _event_rows(Q(occurred_at__gte=midnight))
    kinds = [kind for kind, _ in Interaction.Kind.choices]
    return _daily(rows, since=since.date(), today=today, series=kinds)


def _event_rows(when: Q) -> list[dict]:
    rows = (
        Interaction.objects.filter(when)
        .annotate(day=TruncDate("occurred_at", tzinfo=dt.UTC))
        .values("day", "kind")
        .annotate(n=Count("*"))
        .order_by()
    )
    return [{"day": r["day"], "series": r["kind"], "n": r["n"]} for r in rows]


def orders_and_new_users_per_day(*, since: dt.datetime, today: dt.date) -> Daily:
    orders = (
        Order.objects.filter(ordered_at__gte=since, is_cancelled=False)
        .annotate(day=TruncDate("ordered_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(n=Count("*"))
        .order_by()
    )
    joined = (
        User.objects.filter(date_joined__gte=since)
        .annotate(day=TruncDate("date_joined", tzinfo=dt.UTC))
        .values("day")
        .annotate(n=Count("*"))
        .order_by()
    )
    rows = [{"day": r["day"], "series": "orders", "n": r["n"]} for r in orders]
    rows += [{"day": r["day"], "series": "new users", "n": r["n"]} for r in joined]
    return _daily(rows, since=since.date(), today=today, series=["orders", "new users"])


def family_states(now: dt.datetime | None = None) -> list[FamilyState]:
    """Every list family: live and previous version, what their jobs recorded, and whether
    the live one is older than the pipeline's period allows (stale)."""
    now = now or timezone.now()
    limit = settings.PICKS_PIPELINE_PERIOD_SECONDS * settings.PICKS_STALE_AFTER_PERIODS
    states = []
    for family in store.FAMILIES:
        live, previous = store.live_version(family), store.previous_version(family)
        meta = store.version_meta(family, version=live) if live is not None else {}
        before = store.version_meta(family, version=previous) if previous is not None else {}
        built = _when(meta.get("built_at"))
        age = (now - built).total_seconds() if built else None
        states.append(
            FamilyState(family, live, previous, meta, before, age, age is not None and age > limit)
        )
    return states


@dataclass(frozen=True)
class Overview:
    users: int
    new_users_week: int
    items_active: int
    items_inactive: int
    events_window: int
    orders_window: int
    events: Daily
    orders_users: Daily
    families: list[FamilyState]
    window_days: int


def overview(*, days: int = 90, now: dt.datetime | None = None) -> Overview:
    now = now or timezone.now()
    now = now.astimezone(dt.UTC)
    since = (now - dt.timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    users = User.objects.aggregate(
        total=Count("*"), week=Count("pk", filter=Q(date_joined__gte=now - dt.timedelta(days=7)))
    )
    items = Item.objects.aggregate(
        active=Count("pk", filter=Q(is_active=True)),
        inactive=Count("pk", filter=Q(is_active=False)),
    )
    events = events_per_day(since=since, today=now.date())
    orders_users = orders_and_new_users_per_day(since=since, today=now.date())
    return Overview(
        users=users["total"],
        new_users_week=users["week"],
        items_active=items["active"],
        items_inactive=items["inactive"],
        events_window=sum(sum(v) for v in events.series.values()),
        orders_window=sum(orders_users.series["orders"]),
        events=events,
        orders_users=orders_users,
        families=family_states(now),
        window_days=days,
    )


# ---- pipeline ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LockState:
    held: bool
    seconds_left: int | None
    running: list[JobRun]


def pipeline_lock() -> LockState:
    holder = store.lock_holder(LOCK)
    running = list(JobRun.objects.filter(status=JobRun.Status.RUNNING, pipeline=None)[:10])
    return LockState(holder is not None, holder[1] if holder else None, running)


def pipeline_runs():
    return JobRun.objects.filter(job="run_pipeline").prefetch_related("steps")


def single_job_runs():
    return JobRun.objects.filter(pipeline=None).exclude(job="run_pipeline")


def step_durations(runs: Sequence[JobRun]) -> tuple[list[str], dict[str, list[float]]]:
    """Per run (oldest first) a label, and per job its seconds in each run (0 if absent)."""
    runs = sorted(runs, key=lambda r: r.started_at)
    labels = [f"#{r.pk} {timezone.localtime(r.started_at):%m-%d %H:%M}" for r in runs]
    jobs: dict[str, list[float]] = {}
    for n, run in enumerate(runs):
        for step in sorted(run.steps.all(), key=lambda s: s.started_at):
            jobs.setdefault(step.job, [0.0] * len(runs))[n] = step.seconds or 0.0
    return labels, jobs


# ---- models ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindMetrics:
    metric: str
    baseline: str | None
    baseline_name: str | None
    higher_is_better: bool = True


# The offline metric each kind is gated on, and the simple baseline scored on the same split.
KIND_METRICS = {
    ModelRun.Kind.ALS: KindMetrics("ndcg@10", "baseline_ndcg@10", "popularity"),
    ModelRun.Kind.MF: KindMetrics("auc", "item_rate_auc", "item like rate (popularity)"),
    ModelRun.Kind.RATINGS: KindMetrics("rmse", "baseline_rmse", "training mean", False),
    ModelRun.Kind.BASKET: KindMetrics("rules", None, None),
}


@dataclass
class KindHistory:
    kind: str
    label: str
    metrics: KindMetrics
    runs: list[ModelRun]  # succeeded, oldest first
    tuned: ModelRun | None = None
    trial_points: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)


def succeeded_runs(kind: str, *, limit: int, having: str | None = None) -> list[ModelRun]:
    """A kind's latest succeeded runs, oldest first (their trials left in the database);
    with `having`, only those that recorded that metric."""
    latest = (
        ModelRun.objects.filter(kind=kind, status=ModelRun.Status.SUCCEEDED)
        .defer("trials")
        .order_by("-started_at")[:limit]
    )
    return [r for r in reversed(latest) if having is None or having in r.metrics]


def model_history(*, runs_per_kind: int = 60) -> list[KindHistory]:
    out = []
    for kind, label in ModelRun.Kind.choices:
        metrics = KIND_METRICS[kind]
        tuned = latest_tuned_run(kind)
        history = KindHistory(
            kind, label, metrics, succeeded_runs(kind, limit=runs_per_kind), tuned
        )
        if tuned is not None:
            history.trial_points = trial_points(tuned.trials, metrics.metric)
        out.append(history)
    return out


def trial_points(trials: list[dict], metric: str) -> dict[str, tuple[list[float], list[float]]]:
    """Per numeric parameter that varied across trials, its values and the trials' metric."""
    scored = [t for t in trials if isinstance(t.get(metric), int | float)]
    points: dict[str, tuple[list[float], list[float]]] = {}
    for name in sorted({p for t in scored for p in t.get("params", {})}):
        pairs = [
            (float(t["params"][name]), float(t[metric]))
            for t in scored
            if isinstance(t["params"].get(name), int | float)
            and not isinstance(t["params"][name], bool)
        ]
        if len({x for x, _ in pairs}) > 1:
            points[name] = ([x for x, _ in pairs], [y for _, y in pairs])
    return points


def summary(values: dict) -> str:
    """A run's flat numbers and words as `name=value` pairs (nested ones left out)."""
    parts = []
    for name, value in values.items():
        if isinstance(value, float):
            parts.append(f"{name}={value:.4g}")
        elif isinstance(value, int | str | bool) or value is None:
            parts.append(f"{name}={value}")
    return " ".join(parts)


def key_metrics(run: ModelRun) -> str:
    """The metrics a run is judged on: its gate metric, the baseline beside it, its time."""
    m = KIND_METRICS.get(run.kind)
    names = [m.metric, m.baseline] if m else []
    names += ["bias_auc", "duration_seconds"]
    return summary({n: run.metrics[n] for n in names if n and n in run.metrics})


def model_runs(kind: str | None):
    runs = ModelRun.objects.defer("trials").order_by("-started_at")
    return runs.filter(kind=kind) if kind else runs


# ---- one user's view ---------------------------------------------------------------------


class NoSuchUser(Exception):
    pass


def find_user(text: str):
    """A user by id, username or external id (the shop's customer id)."""
    text = text.strip()
    if not text:
        raise NoSuchUser("Give a user id, username or external id.")
    match = Q(username__iexact=text) | Q(external_id=text)
    if text.isdigit() and len(text) <= 18:
        match |= Q(pk=int(text))
    found = list(User.objects.filter(match).order_by("pk")[:2])
    if not found:
        raise NoSuchUser(f"No user with id, username or external id {text!r}.")
    return found[0]


@dataclass(frozen=True)
class ShownEntry:
    item_id: int
    title: str
    category: str | None
    score: float
    source: str
    because: int | None
    because_title: str | None


@dataclass(frozen=True)
class ShownList:
    name: str
    ranked: selectors.RankedList | None  # None: nothing to read, `note` says why
    entries: list[ShownEntry]
    note: str = ""


def lists_for(user_id: int, *, limit: int = 20) -> list[ShownList]:
    """What each list would show this user now: the same reads, with the same defaults, as
    the API (no rate count); similar items are those of their last like."""
    unfiltered = selectors.Filters()
    shown = [
        ("Top buys", selectors.top_buys_for_user(user_id=user_id, filters=unfiltered, limit=limit)),
        ("Swipe deck", selectors.deck_for_user(user_id=user_id, filters=unfiltered, limit=limit)),
    ]
    last_like = (
        Interaction.objects.filter(user_id=user_id, kind=Interaction.Kind.LIKE)
        .order_by("-occurred_at", "-pk")
        .values_list("item_id", flat=True)
        .first()
    )
    note = ""
    if last_like is not None:
        try:
            similar = selectors.similar_for_item(item_id=last_like, filters=unfiltered, limit=limit)
            shown.append((f"Similar to their last like (item {last_like})", similar))
        except selectors.UnknownItem:
            note = f"their last like, item {last_like}, is no longer active"
    else:
        note = "no likes yet: no similar items to show"
    shown.append(("Trending", selectors.trending(filters=unfiltered, limit=limit)))
    because_ids = {r.because for _, ranked in shown for r in ranked.results if r.because}
    titles = dict(Item.objects.filter(pk__in=because_ids).values_list("pk", "title"))
    out = [ShownList(name, ranked, _entries(ranked, titles)) for name, ranked in shown]
    if note:
        out.append(ShownList("Similar items", None, [], note))
    return out


def _entries(ranked: selectors.RankedList, titles: dict[int, str]) -> list[ShownEntry]:
    entries = []
    for result in ranked.results:
        card = orjson.loads(orjson.dumps(result.card))  # the card as the API renders it
        entries.append(
            ShownEntry(
                item_id=card["id"],
                title=card.get("title", ""),
                category=card.get("category"),
                score=result.score,
                source=result.source,
                because=result.because,
                because_title=titles.get(result.because) if result.because else None,
            )
        )
    return entries


def variants_of(user_id: int) -> list[tuple[str, str, str]]:
    """(experiment, list family, variant) of every running experiment this user is in."""
    reader = experiments.reader_key(user_id=user_id)
    return [
        (experiment.name, family, experiment.arm_of(reader).name)
        for family, experiment in experiments.running().items()
    ]


def recent_events(user_id: int, *, limit: int = 30) -> list[Interaction]:
    return list(
        Interaction.objects.filter(user_id=user_id)
        .select_related("item")
        .order_by("-occurred_at", "-pk")[:limit]
    )
