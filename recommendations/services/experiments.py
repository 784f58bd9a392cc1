"""A/B experiments: starting, changing, stopping and promoting them; which variant a reader is
in; the outcomes each variant's users produce; and the report.

The read path stays one Redis round trip: the running experiments' definitions are one JSON
key that each process re-reads at most every PICKS_EXPERIMENT_CACHE_SECONDS (so a start or a
stop reaches every server within that time), the variant comes from a hash of the salt and
the reader (ml/experiments.py), and the impression is counted inside the list read.
Outcomes (likes, carts, purchases) are counted when their events are stored, for the variant
the user is in at that moment."""

import secrets
import threading
import time
from dataclasses import asdict, dataclass

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommendations import store
from recommendations.ml import experiments as stats
from recommendations.ml.als import AlsParams
from recommendations.models import Experiment, Interaction, ModelRun, Variant
from recommendations.store import keys

OUTCOMES = (Interaction.Kind.LIKE, Interaction.Kind.CART, Interaction.Kind.PURCHASE)


class ExperimentError(Exception):
    """An experiment that cannot be started, changed or promoted as asked."""


@dataclass(frozen=True)
class Arm:
    index: int
    name: str
    lists: str
    family: str | None  # its own lists' family (an `als` arm), else None
    share: int


@dataclass(frozen=True)
class Running:
    id: int
    name: str
    family: str
    salt: str
    buckets: list[int]
    arms: list[Arm]

    def arm_of(self, reader: str) -> Arm:
        return self.arms[self.buckets[stats.bucket(self.salt, reader)]]

    def impression(self, arm: Arm, reader: str) -> store.Impression:
        return store.Impression(
            keys.experiment_counts(self.id),
            f"{arm.index}:impressions",
            keys.experiment_users(self.id, arm.index),
            reader,
        )


# ---- the definitions every API process reads ------------------------------------------------

_cache_lock = threading.Lock()
_cache: dict[str, object] = {"at": -1e18, "running": {}}


def running() -> dict[str, Running]:
    """Every running experiment by list family, as this process last read them."""
    now = time.monotonic()
    if now - _cache["at"] > settings.PICKS_EXPERIMENT_CACHE_SECONDS:
        with _cache_lock:
            if now - _cache["at"] > settings.PICKS_EXPERIMENT_CACHE_SECONDS:
                _cache["running"] = _decode(store.client().get(keys.experiments()))
                _cache["at"] = now
    return _cache["running"]


def running_for(family: str) -> Running | None:
    """The running experiment of a list family, as this process last read it."""
    return running().get(family)


def forget_cached() -> None:
    """Read the definitions again on the next request (tests; the writer's own process)."""
    _cache["at"] = -1e18


def _decode(raw: bytes | None) -> dict[str, Running]:
    if not raw:
        return {}
    out = {}
    for family, d in orjson.loads(raw).items():
        arms = [Arm(**a) for a in d.pop("arms")]
        out[family] = Running(**d, arms=arms)
    return out


def publish_definitions() -> None:
    """Write every running experiment's definition to Redis (one key, replaced whole)."""
    running = {}
    for exp in Experiment.objects.filter(status=Experiment.Status.RUNNING).prefetch_related(
        "variants"
    ):
        arms = [
            Arm(
                i,
                v.name,
                v.lists,
                keys.variant_family(exp.family, exp.pk, i)
                if v.lists == Variant.Lists.ALS
                else None,
                v.share,
            )
            for i, v in enumerate(exp.variants.all())
        ]
        running[exp.family] = asdict(
            Running(exp.pk, exp.name, exp.family, exp.salt, exp.buckets, arms)
        )
    store.client().set(keys.experiments(), orjson.dumps(running))
    forget_cached()


# ---- lifecycle ----------------------------------------------------------------------------


def check(experiment: Experiment) -> list[Variant]:
    variants = list(experiment.variants.all())
    if len(variants) < 2:
        raise ExperimentError("an experiment needs two or more variants")
    if sum(v.share for v in variants) != 100:
        raise ExperimentError("the variants' shares must add up to 100")
    if sum(v.is_control for v in variants) != 1:
        raise ExperimentError("exactly one variant must be the control")
    for v in variants:
        if v.lists == Variant.Lists.ALS and experiment.family != Experiment.Family.TOP_BUYS:
            raise ExperimentError("an `als` variant serves top buys only")
    return variants


def start(experiment: Experiment) -> None:
    """Start (or restart) serving it; users are assigned from now on."""
    variants = check(experiment)
    with transaction.atomic():
        other = Experiment.objects.filter(
            family=experiment.family, status=Experiment.Status.RUNNING
        ).exclude(pk=experiment.pk)
        if other.exists():
            raise ExperimentError(f"{other.first().name} already runs on {experiment.family}")
        experiment.salt = experiment.salt or secrets.token_hex(8)
        _allocate(experiment, variants)
        experiment.status = Experiment.Status.RUNNING
        experiment.started_at = experiment.started_at or timezone.now()
        experiment.stopped_at = None
        experiment.save()
    publish_definitions()


def reshare(experiment: Experiment) -> None:
    """After a change of shares: move only the buckets the change needs."""
    _allocate(experiment, check(experiment))
    experiment.save(update_fields=["buckets"])
    if experiment.status == Experiment.Status.RUNNING:
        publish_definitions()


def _allocate(experiment: Experiment, variants: list[Variant]) -> None:
    """Buckets for the variants' shares, moving as few as possible from the ones before."""
    experiment.buckets = stats.allocate([v.share for v in variants], experiment.buckets or None)


def stop(experiment: Experiment) -> None:
    """Everyone gets the default lists again; the counts stay for the report."""
    experiment.status = Experiment.Status.STOPPED
    experiment.stopped_at = timezone.now()
    experiment.save(update_fields=["status", "stopped_at"])
    publish_definitions()


def promote(experiment: Experiment, name: str) -> str:
    """Stop the experiment and make a variant's configuration the default: an `als`
    variant's parameters become the ALS parameters the pipeline trains with (still through
    the quality gate); the control's is the default already."""
    variant = experiment.variants.filter(name=name).first()
    if variant is None:
        raise ExperimentError(f"{experiment.name} has no variant {name!r}")
    if variant.lists == Variant.Lists.POPULAR:
        raise ExperimentError(
            "the global popular list cannot replace a family's own lists: keep the experiment "
            "running or stop it"
        )
    if variant.lists == Variant.Lists.ALS:
        # Later runs train with the parameters of the latest run that chose some (tuned).
        params = variant_als_params(variant).as_dict()
        ModelRun.objects.create(
            kind=ModelRun.Kind.ALS, status=ModelRun.Status.SUCCEEDED, params=params,
            trials=[{"params": params, "promoted_from": experiment.name}],
            finished_at=timezone.now(),
            decision=f"not served: parameters promoted from experiment {experiment.name}",
        )  # fmt: skip
        done = "its ALS parameters are now the default (the next pipeline run trains them)"
    else:
        done = "it is the default already"
    stop(experiment)
    experiment.promoted = name
    experiment.save(update_fields=["promoted"])
    return f"{name} promoted: {done}"


# ---- the variants' own lists ---------------------------------------------------------------


def generate_experiment_lists() -> str:
    """For each running experiment's `als` variant: an ALS with its parameters (recorded as
    a model run, never served by default) and top buys from it into the variant's family."""
    from recommendations.services.precompute.top_buys import generate_top_buys
    from recommendations.services.training.als import train_als_model

    done = []
    for experiment in Experiment.objects.filter(status=Experiment.Status.RUNNING):
        for index, variant in enumerate(experiment.variants.all()):
            if variant.lists != Variant.Lists.ALS:
                continue
            run = train_als_model(params=variant_als_params(variant), serve=False)
            family = keys.variant_family(experiment.family, experiment.pk, index)
            result = generate_top_buys(run=run, family=family)
            done.append(f"{experiment.name}/{variant.name}: {result.lists} lists")
    return "; ".join(done) or "no running experiment has a variant of its own lists"


def variant_als_params(variant: Variant) -> AlsParams:
    """The current ALS parameters with the variant's own in place of theirs."""
    from recommendations.services.training.als import current_als_params, replace_params

    return replace_params(current_als_params(), **variant.params)


# ---- outcomes -------------------------------------------------------------------------------


def record_outcomes(events: list[tuple[int, str]]) -> None:
    """Count (user id, kind) events for the variant each user is in now, in every running
    experiment: the kind per variant, and the user in the variant's set of doers."""
    wanted = [(user_id, kind) for user_id, kind in events if kind in OUTCOMES]
    if not wanted:
        return
    current = running().values()
    if not current:
        return
    pipe = store.client().pipeline(transaction=False)
    for experiment in current:
        for user_id, kind in wanted:
            reader = reader_key(user_id=user_id)
            arm = experiment.arm_of(reader)
            pipe.hincrby(keys.experiment_counts(experiment.id), f"{arm.index}:{kind}", 1)
            pipe.sadd(keys.experiment_users(experiment.id, arm.index, kind), reader)
    pipe.execute()


def reader_key(*, user_id: int | None = None, client_id: str | None = None) -> str | None:
    """Who is assigned: a signed-in user by id, a guest by the client id it sends."""
    if user_id is not None:
        return f"u:{user_id}"
    if client_id:
        return f"c:{client_id}"
    return None


# ---- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmReport:
    name: str
    control: bool
    share: int
    lists: str
    users: int
    impressions: int
    counts: dict[str, int]
    users_with: dict[str, int]
    per_impression: dict[str, float]
    per_user: dict[str, float]
    against_control: dict[str, stats.Comparison]


@dataclass(frozen=True)
class Report:
    name: str
    family: str
    status: str
    started_at: str | None
    stopped_at: str | None
    arms: list[ArmReport]
    srm_p_value: float
    srm_flagged: bool
    method: str


METHOD = (
    "rates per user are compared to control's with a mixture sequential probability ratio "
    "test (always-valid p-values and 95 % intervals: looking every day and stopping at the "
    "first p < 0.05 keeps false positives under 5 %); the split is checked with a chi-square "
    f"test of users per variant against the shares (flagged below p = {stats.SRM_ALPHA})"
)


def report(experiment: Experiment) -> Report:
    variants = list(experiment.variants.all())
    redis = store.client()
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.experiment_counts(experiment.pk))
    for i in range(len(variants)):
        seen = keys.experiment_users(experiment.pk, i)
        pipe.scard(seen)
        for kind in OUTCOMES:  # users who were served and then did it
            pipe.sintercard(2, [seen, keys.experiment_users(experiment.pk, i, kind)])
    counts_raw, *cards = pipe.execute()
    counts = {k.decode(): int(v) for k, v in counts_raw.items()}
    per = len(OUTCOMES) + 1
    rows = []
    for i, v in enumerate(variants):
        users = cards[i * per]
        doers = {kind: cards[i * per + 1 + n] for n, kind in enumerate(OUTCOMES)}
        impressions = counts.get(f"{i}:impressions", 0)
        events = {kind: counts.get(f"{i}:{kind}", 0) for kind in OUTCOMES}
        rows.append((v, users, impressions, events, doers))
    control = next(r for r in rows if r[0].is_control)
    arms = []
    for v, users, impressions, events, doers in rows:
        against = {}
        if not v.is_control:
            against = {
                kind: stats.compare(control[4][kind], control[1], doers[kind], users)
                for kind in OUTCOMES
            }
        arms.append(
            ArmReport(
                name=v.name, control=v.is_control, share=v.share, lists=v.lists,
                users=users, impressions=impressions, counts=events, users_with=doers,
                per_impression={k: _rate(events[k], impressions) for k in OUTCOMES},
                per_user={k: _rate(doers[k], users) for k in OUTCOMES},
                against_control=against,
            )
        )  # fmt: skip
    srm_p, flagged = stats.sample_ratio_mismatch([a.users for a in arms], [a.share for a in arms])
    return Report(
        name=experiment.name,
        family=experiment.family,
        status=experiment.status,
        started_at=experiment.started_at.isoformat() if experiment.started_at else None,
        stopped_at=experiment.stopped_at.isoformat() if experiment.stopped_at else None,
        arms=arms,
        srm_p_value=srm_p,
        srm_flagged=flagged,
        method=METHOD,
    )


def _rate(count: int, of: int) -> float:
    return count / of if of else 0.0


def forget(experiment_id: int, *, was_running: bool) -> None:
    """After an experiment's delete: no server serves it any more, and its counters go."""
    if was_running:
        publish_definitions()
    store.unlink_matching(keys.experiment_pattern(experiment_id))
