"""Removing what no one needs any more: old model artifacts."""

from django.conf import settings

from recommendations import artifacts
from recommendations.models import ModelRun
from recommendations.services.progress import log_step


def prune_artifacts(*, keep_runs: int | None = None) -> int:
    """Delete stored artifacts except those of each kind's `keep_runs` newest runs and its two
    newest published runs (the served model and the one a rollback would go back to); runs
    whose artifact went lose its name. How many were deleted comes back."""
    keep_runs = settings.PICKS_KEEP_ARTIFACTS if keep_runs is None else keep_runs
    deleted = 0
    for kind in ModelRun.Kind.values:
        runs = ModelRun.objects.filter(kind=kind).exclude(artifact_name="").order_by("-pk")
        keep = set(runs.values_list("artifact_name", flat=True)[:keep_runs])
        keep |= set(runs.filter(published=True).values_list("artifact_name", flat=True)[:2])
        gone = artifacts.prune(kind, keep=keep)
        ModelRun.objects.filter(artifact_name__in=gone).update(artifact_name="")
        deleted += len(gone)
    log_step("prune_artifacts", "deleted", artifacts=deleted)
    return deleted
