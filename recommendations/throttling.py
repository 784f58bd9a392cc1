"""The list endpoints' rate: a fixed window counted in Redis, inside the list read itself."""

import logging

from redis.exceptions import RedisError
from rest_framework import throttling
from rest_framework.settings import api_settings

from recommendations import store

logger = logging.getLogger(__name__)


class ListRateThrottle(throttling.SimpleRateThrottle):
    """Fixed-window rate for the list endpoints: one Redis INCR per request.

    DRF's own throttles read and write a pickled history per request (two round trips each,
    and two of them apply). Clients are counted by user id (from the token) or, for guests,
    by address, at the `lists_user` and `lists_anon` rates. A view that sets
    `counts_in_read = True` gets the hit handed to it (`view.hit`, `view.hit_limit`) instead:
    it counts it inside its own Redis read, so the whole request is one round trip, and
    refuses the request when the count comes back over the limit.
    """

    def __init__(self) -> None:
        """Rates are chosen per request (guest or user), not at construction."""

    def get_cache_key(self, request: object, view: object) -> str:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.id}"
        return f"anon:{self.get_ident(request)}"

    def allow_request(self, request: object, view: object) -> bool:
        user = getattr(request, "user", None)
        self.scope = "lists_user" if user is not None and user.is_authenticated else "lists_anon"
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        account = int(user.id) if user is not None and user.is_authenticated else None
        hit = store.Hit(
            self.scope, self.get_cache_key(request, view), self.duration, self.num_requests, account
        )
        if getattr(view, "counts_in_read", False):
            view.hit, view.hit_limit = hit, self.num_requests
            return True
        try:
            count = store.count_hit(hit)
        except RedisError:
            logger.warning("throttle counters unavailable; request let through")
            return True
        return count <= self.num_requests

    def get_rate(self) -> str | None:
        # DRF's class attribute THROTTLE_RATES is frozen at import; read the live settings.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def wait(self) -> float:
        return store.Hit(self.scope, "", self.duration, self.num_requests).seconds_left()
