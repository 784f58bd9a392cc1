"""Progress of long jobs: a tqdm bar on a terminal, one structured log line per step under cron."""

import logging
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
logger = logging.getLogger("picks.jobs")


def on_terminal() -> bool:
    """True when a person watches stderr."""
    return sys.stderr.isatty()


def track(
    iterable: Iterable[T], *, job: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    """Yield from `iterable`, showing a bar on a terminal and nothing extra otherwise."""
    if on_terminal():
        yield from tqdm(iterable, desc=job, total=total, unit=unit)
    else:
        yield from iterable


def log_step(job: str, step: str, **fields: object) -> None:
    """One `key=value` line a log collector can parse."""
    details = " ".join(f"{k}={v}" for k, v in fields.items())
    logger.info("job=%s step=%s %s", job, step, details)
