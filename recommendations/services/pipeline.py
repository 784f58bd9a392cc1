"""`run_pipeline`: every batch job in order, under a lock that expires if the holder dies."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from recommendations import store
from recommendations.ml.basket import BasketParams
from recommendations.models import ModelRun
from recommendations.services.aggregation import AggregationResult, update_interactions
from recommendations.services.experiments import generate_experiment_lists
from recommendations.services.housekeeping import prune_artifacts
from recommendations.services.job_runs import recorded
from recommendations.services.precompute import PublishResult
from recommendations.services.precompute.bought_together import generate_bought_together
from recommendations.services.precompute.decks import generate_decks
from recommendations.services.precompute.global_lists import generate_global_top_buys
from recommendations.services.precompute.similar import generate_similar_items
from recommendations.services.precompute.top_buys import generate_top_buys
from recommendations.services.progress import log_step
from recommendations.services.publish import publish_catalog
from recommendations.services.training.als import train_als_model
from recommendations.services.training.basket import train_market_basket
from recommendations.services.training.mf import train_mf_model
from recommendations.services.training.model_runs import NoServedModel, NoTrainingData

LOCK = "pipeline"
# A shop without swipes (orders only) has no MF model and no decks; the rest still runs.
OPTIONAL_STEPS = frozenset({"train_mf_model", "generate_decks"})


class PipelineLocked(Exception):
    """Another run holds the pipeline lock."""


@dataclass(frozen=True)
class StepResult:
    name: str
    seconds: float
    outcome: str


class PipelineLockLost(Exception):
    """The run's lock expired or was taken (the process was paused too long): it stops."""


@contextmanager
def pipeline_lock(*, ttl_seconds: int) -> Iterator[store.HeldLock]:
    """Hold the lock, refreshing it from a thread; a killed process lets it expire. Every
    publication inside switches its pointer only while this lock is still held."""
    lock = store.HeldLock(LOCK, ttl_seconds=ttl_seconds)
    if not lock.acquire():
        raise PipelineLocked("another run_pipeline is running (its lock has not expired)")
    held = store.held_locks.set((*store.held_locks.get(), (lock.name, lock.token)))
    try:
        yield lock
    finally:
        store.held_locks.reset(held)
        lock.release()


def _steps(*, tune: int, force: bool) -> list[tuple[str, Callable[[], object]]]:
    return [
        ("update_interactions", update_interactions),
        ("publish_catalog", publish_catalog),
        ("train_als_model", lambda: train_als_model(tune=tune, force=force)),
        ("generate_top_buys", generate_top_buys),
        ("generate_global_top_buys", generate_global_top_buys),
        ("train_market_basket", lambda: train_market_basket(params=BasketParams())),
        ("generate_bought_together", generate_bought_together),
        ("train_mf_model", lambda: train_mf_model(tune=tune, force=force)),
        ("generate_decks", generate_decks),
        ("generate_similar_items", generate_similar_items),
        ("generate_experiment_lists", generate_experiment_lists),
        ("prune_artifacts", lambda: f"{prune_artifacts()} old artifacts deleted"),
    ]


def run_pipeline(*, tune: int = 0, force: bool = False) -> list[StepResult]:
    """Run every job in order; a failure stops the run, leaving the live lists as they were.
    The run and each step are recorded as JobRuns (the dashboard's pipeline page)."""
    results = []
    with (
        pipeline_lock(ttl_seconds=settings.PICKS_PIPELINE_LOCK_SECONDS) as lock,
        recorded("run_pipeline") as run,
    ):
        for name, step in _steps(tune=tune, force=force):
            if lock.lost.is_set():
                raise PipelineLockLost(f"the pipeline lock was lost before {name}: run stopped")
            started = time.perf_counter()
            with recorded(name, pipeline=run.run) as recording:
                try:
                    recording.outcome = outcome = _describe(step())
                except (NoTrainingData, NoServedModel) as exc:
                    if name not in OPTIONAL_STEPS:
                        raise
                    outcome = f"skipped: {exc}"
                    recording.skip(outcome)
            seconds = time.perf_counter() - started
            results.append(StepResult(name, seconds, outcome))
            log_step("run_pipeline", name, seconds=round(seconds, 2))
        run.outcome = f"{len(results)} steps"
    return results


def _describe(outcome: object) -> str:
    if isinstance(outcome, AggregationResult):
        return f"{outcome.rows_touched} user-item scores updated"
    if isinstance(outcome, PublishResult):
        return f"{outcome.lists} lists published as version {outcome.version}"
    if isinstance(outcome, ModelRun):
        return f"model run #{outcome.pk}: {outcome.decision}"
    if isinstance(outcome, str):
        return outcome
    return f"{outcome} item cards"


def rollback_recommendations(*, families: tuple[str, ...] = store.FAMILIES) -> dict[str, str]:
    """Serve each family's previous version again; what happened per family."""
    done = {}
    for family in families:
        try:
            done[family] = f"now serving version {store.rollback(family)}"
        except store.NothingToRollBack as exc:
            done[family] = str(exc)
    return done
