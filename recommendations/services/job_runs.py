"""The record of batch job runs: each run (and each step of a pipeline run) is a JobRun row,
written before the job starts and finished when it ends, so staff see what runs now, what
failed and why, and how long each job takes."""

import logging
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.db import DatabaseError, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone

from recommendations.models import JobRun

logger = logging.getLogger(__name__)
T = TypeVar("T")
ERROR_CHARS = 4000  # enough for a message and its cause; the log keeps the traceback


class Recording:
    """The open record of one run: what the job says it did goes in `outcome`; a skip is
    marked with `skip(reason)`."""

    def __init__(self, run: JobRun | None) -> None:
        self.run = run
        self.outcome = ""
        self.skipped = False

    def skip(self, reason: str) -> None:
        self.skipped, self.outcome = True, reason


def holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def recorded(job: str, *, pipeline: JobRun | None = None) -> Iterator[Recording]:
    """Record a run of `job` around the block: running, then succeeded, skipped or failed
    with the error. A database that cannot take the record does not stop the job."""
    recording = Recording(_write(lambda: JobRun.objects.create(
        job=job, pipeline=pipeline, holder=holder(), started_at=timezone.now()
    )))  # fmt: skip
    try:
        yield recording
    except BaseException as exc:
        _finish(recording, JobRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    status = JobRun.Status.SKIPPED if recording.skipped else JobRun.Status.SUCCEEDED
    _finish(recording, status)


def _finish(recording: Recording, status: str, *, error: str = "") -> None:
    run = recording.run
    if run is None:
        return
    run.status, run.finished_at = status, timezone.now()
    # PostgreSQL text cannot hold NUL (an error may quote a UTF-16 file's bytes)
    run.outcome = recording.outcome.replace("\x00", "")[:ERROR_CHARS]
    run.error = error.replace("\x00", "")[:ERROR_CHARS]
    _write(lambda: run.save(update_fields=["status", "finished_at", "outcome", "error"]))


def _write(write: Callable[[], T]) -> T | None:
    """The write in a savepoint of its own: a failed one spoils no transaction around it."""
    try:
        with transaction.atomic():
            return write()
    except (DatabaseError, TransactionManagementError) as exc:
        logger.warning("job run not recorded: %s", exc)
        return None
