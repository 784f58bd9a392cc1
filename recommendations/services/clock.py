"""The time a job runs at, and which client timestamps can be stored at all."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone


def run_time() -> datetime:
    """What 'now' is for a job: recency and windows count from it, never from the newest row.

    `PICKS_AS_OF` pins it, to replay a shop's history as of a date (benchmarks on old data).
    """
    return settings.PICKS_AS_OF or timezone.now()


def implausible(value: datetime) -> str | None:
    """Why a client's timestamp cannot be stored (too far in the future or the past), or None."""
    try:
        if value > timezone.now() + timedelta(seconds=settings.PICKS_MAX_FUTURE_SECONDS):
            return (
                f"is more than {settings.PICKS_MAX_FUTURE_SECONDS} s in the future "
                f"(now {timezone.now().astimezone(UTC).isoformat(timespec='seconds')})"
            )
        if value < settings.PICKS_EARLIEST_TIMESTAMP:
            return f"is before {settings.PICKS_EARLIEST_TIMESTAMP.date().isoformat()}"
    except OverflowError:
        return "is out of range"
    return None
