"""The refresher's loop in a thread, for tests that need lists to follow swipes live."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.db import connections

from recommendations.services import freshness


@contextmanager
def refresher_running(**options):
    """Run the refresher (its own database connection) until the block ends."""
    stop = threading.Event()

    def loop() -> None:
        try:
            freshness.run_refresher(stop=stop, **options)
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()


def wait_for(condition, *, seconds: float) -> float:
    """Seconds until `condition()` held; fails after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if condition():
            return time.monotonic() - start
        time.sleep(0.05)
    pytest.fail(f"not within {seconds} s")
