"""DRF's throttles, failing open: a Redis outage must not refuse event writes. (The list
endpoints count requests inside their Redis read: recommendations/throttling.py.)"""

import logging

from redis.exceptions import RedisError
from rest_framework import throttling

logger = logging.getLogger(__name__)


class _FailOpen:
    # No type imports from rest_framework.views here: DRF imports this module while loading it.
    def allow_request(self, request: object, view: object) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError:
            logger.warning("throttle counters unavailable; request let through")
            return True


class AnonRateThrottle(_FailOpen, throttling.AnonRateThrottle):
    """Per-IP rate for clients without a token."""


class UserRateThrottle(_FailOpen, throttling.UserRateThrottle):
    """Per-user rate for authenticated clients."""


class ScopedRateThrottle(_FailOpen, throttling.ScopedRateThrottle):
    """Per-view rate named by the view's `throttle_scope`."""
