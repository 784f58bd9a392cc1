"""The list endpoints' rate: a fixed window per client in Redis (one INCR), counted inside the
list read itself where the endpoint reads one list, else on its own.

DRF's own throttles read and write a pickled history per request (two round trips each, and
two of them apply). Clients are counted by user id (from the token) or, for guests, by
address (see config/clientip.py), at the `lists_user` and `lists_anon` rates.
"""

import logging
from functools import cache

from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.request import Request
from rest_framework.settings import api_settings

from recommendations import store

logger = logging.getLogger(__name__)
_ident = throttling.BaseThrottle()
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@cache
def _rate(text: str) -> tuple[int, int]:
    """Requests and window seconds of a rate like "600/min"."""
    count, period = text.split("/")
    return int(count), _PERIOD_SECONDS[period[0]]


def rate_window(request: Request) -> store.Hit:
    """This request as a hit on its client's rate window (not counted yet)."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    scope = "lists_user" if signed_in else "lists_anon"
    # DRF's rates are frozen on its classes at import: read the live settings ("600/min").
    limit, seconds = _rate(api_settings.DEFAULT_THROTTLE_RATES[scope])
    client = f"user:{user.id}" if signed_in else f"anon:{_ident.get_ident(request)}"
    return store.Hit(scope, client, seconds, limit, int(user.id) if signed_in else None)


class ListRateThrottle(throttling.BaseThrottle):
    """The list rate for endpoints that do not read one list (more-like-these, predict): the
    hit is counted on its own round trip."""

    def allow_request(self, request: Request, view: object) -> bool:
        self.hit = rate_window(request)
        try:
            return store.count_hit(self.hit) <= self.hit.limit
        except RedisError:
            logger.warning("throttle counters unavailable; request let through")
            return True

    def wait(self) -> float:
        return self.hit.seconds_left()
