"""The only module that knows Redis key names, versions and serialisation.

Every key starts with ``settings.PICKS_REDIS_PREFIX`` so that a test run, a staging copy and
production can share one Redis without touching each other's keys.
"""

from django.conf import settings
from django_redis import get_redis_connection
from redis import Redis


def _redis() -> Redis:
    return get_redis_connection("default")


def _key(*parts: object) -> str:
    return ":".join([settings.PICKS_REDIS_PREFIX, *map(str, parts)])


def ping() -> None:
    """Raise a RedisError if the store does not answer."""
    _redis().ping()


def seen_items(*, user_id: int) -> set[int]:
    """Items the user swiped or bought, which the deck never shows again."""
    return {int(i) for i in _redis().smembers(_key("user", user_id, "seen"))}


def delete_prefix() -> int:
    """Delete every key under this prefix (SCAN + DEL, never FLUSHDB); the count comes back."""
    redis = _redis()
    deleted = 0
    batch: list[bytes] = []
    for key in redis.scan_iter(match=f"{settings.PICKS_REDIS_PREFIX}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            deleted += redis.delete(*batch)
            batch = []
    if batch:
        deleted += redis.delete(*batch)
    return deleted


def add_seen_many(*, seen: dict[int, set[int]]) -> None:
    """Record, for many users at once, items they swiped or bought (one pipeline)."""
    pipe = _redis().pipeline(transaction=False)
    for user_id, item_ids in seen.items():
        if item_ids:
            pipe.sadd(_key("user", user_id, "seen"), *item_ids)
    pipe.execute()
