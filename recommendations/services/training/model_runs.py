"""Model runs: recorded, gated against the served model, and loaded back."""

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import TypeVar

from django.utils import timezone

from recommendations import artifacts
from recommendations.models import ModelRun

logger = logging.getLogger(__name__)
GATE_METRIC = "ndcg@10"
EVALUATED_USERS = 5000  # users whose held-out pairs score a model (a seeded sample beyond)
P = TypeVar("P")


class NoTrainingData(Exception):
    """There is nothing to learn from yet."""


class NoServedModel(Exception):
    """No model of that kind has been published."""


@contextmanager
def recorded_run(*, kind: str, params: dict) -> Iterator[ModelRun]:
    """A recorded ModelRun for the block's work: succeeded, with its duration, when the block
    ends; failed when the block (or the save of its results) raises. Never left running."""
    run = ModelRun.objects.create(kind=kind, params=params)
    started = time.perf_counter()
    try:
        yield run
        run.status = ModelRun.Status.SUCCEEDED
        run.finished_at = timezone.now()
        run.metrics = _json_safe(
            {**run.metrics, "duration_seconds": round(time.perf_counter() - started, 3)}
        )
        run.trials = _json_safe(run.trials)
        run.save()
    except BaseException as exc:
        ModelRun.objects.filter(pk=run.pk).update(
            status=ModelRun.Status.FAILED,
            decision=f"failed: {exc!r}"[:255],
            finished_at=timezone.now(),
            published=False,
        )
        run.refresh_from_db()
        raise


def _json_safe(value: object) -> object:
    """Metrics as JSON can store them: a NaN or infinite number becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def served_run(kind: str) -> ModelRun | None:
    """The most recently published run of a kind."""
    return ModelRun.objects.filter(kind=kind, published=True).first()


def latest_tuned_run(kind: str) -> ModelRun | None:
    """The most recent succeeded run of a kind that tuned (its trials recorded)."""
    return (
        ModelRun.objects.filter(kind=kind, status=ModelRun.Status.SUCCEEDED)
        .exclude(trials=[])
        .first()
    )


def served_params(kind: str, shape: type[P]) -> P | None:
    """The served run's parameters of `kind` as `shape` (a params dataclass); None when
    nothing is served or they no longer fit (a run of an older shape)."""
    served = served_run(kind)
    if served is None:
        return None
    names = {f.name for f in fields(shape)}
    try:
        return shape(**{k: v for k, v in served.params.items() if k in names})
    except TypeError:
        return None


def rival_params(kind: str, params: P) -> P | None:
    """The served run's parameters of `kind` if they differ from `params`: the gate then
    trains them on the candidate's split too, so both are scored on the same held-out data in
    the same run (scores from different samples differ by chance alone). None when nothing is
    served, its parameters are the same, or they no longer fit."""
    other = served_params(kind, type(params))
    return other if other != params else None


def apply_gate(
    run: ModelRun,
    *,
    force: bool,
    tolerance: float,
    rival_score: float | None,
    metric: str = GATE_METRIC,
    higher_is_better: bool = True,
) -> None:
    """Publish `run` unless the served model's parameters, trained and scored on the same
    split in this run (`rival_score`), did better beyond `tolerance`. With the served
    parameters the candidate is the served model on newer data: it is published."""
    served = served_run(run.kind)
    sign = 1 if higher_is_better else -1
    new = run.metrics.get(metric, 0.0)
    if rival_score is not None:
        run.metrics[f"served_params_{metric}"] = rival_score
    if force:
        run.published, run.decision = True, "published (forced)"
    elif served is None:
        run.published, run.decision = True, "published: first model"
    elif not artifacts.readable(served.artifact_name):
        run.published = True
        run.decision = f"published: served run #{served.pk} has no readable artifact"
        logger.warning("served %s run #%s: artifact missing or unreadable", run.kind, served.pk)
    elif rival_score is None:
        run.published = True
        run.decision = f"published: the served parameters on newer data ({metric} {new:.4f})"
    elif sign * new >= sign * rival_score - tolerance:
        run.published = True
        run.decision = f"published: {metric} {new:.4f} vs served parameters {rival_score:.4f}"
    else:
        run.published = False
        run.decision = (
            f"kept served run #{served.pk}: {metric} {new:.4f} vs its parameters "
            f"{rival_score:.4f} on the same held-out data"
        )


_TRAINED_BY = {
    ModelRun.Kind.ALS: "train_als_model",
    ModelRun.Kind.MF: "train_mf_model",
    ModelRun.Kind.RATINGS: "train_mf_model --ratings",
    ModelRun.Kind.BASKET: "train_market_basket",
}


def load_served(kind: str) -> tuple[ModelRun, object]:
    """The published run of a kind and its artifact."""
    run = served_run(kind)
    if run is None:
        raise NoServedModel(
            f"no {ModelRun.Kind(kind).label} model is published: run {_TRAINED_BY[kind]} first"
        )
    return run, artifacts.load(run.artifact_name)
