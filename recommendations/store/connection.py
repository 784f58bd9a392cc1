"""The Redis client the store uses, and its Lua scripts (real files beside this one)."""

from functools import cache
from pathlib import Path

from django_redis import get_redis_connection
from redis import Redis
from redis.commands.core import Script

from recommendations.store.keys import everything


def client() -> Redis:
    return get_redis_connection("default")


@cache
def _source(name: str) -> str:
    return (Path(__file__).with_name(name)).read_text()


_scripts: dict[str, Script] = {}


def run_script(name: str, *, keys: list[str] | None = None, args: list[object]) -> object:
    """EVALSHA of one of the store's Lua files (loaded on first use; its sha once a process)."""
    redis = client()
    script = _scripts.get(name)
    if script is None:
        script = _scripts[name] = redis.register_script(_source(name))
    return script(keys=keys or [], args=args, client=redis)


def ping() -> None:
    """Raise a RedisError if the store does not answer."""
    client().ping()


def unlink_matching(pattern: str) -> int:
    """SCAN + UNLINK every key matching `pattern` (never FLUSHDB); the count comes back."""
    redis, deleted, batch = client(), 0, []
    for key in redis.scan_iter(match=pattern, count=2000):
        batch.append(key)
        if len(batch) >= 2000:
            deleted += redis.unlink(*batch)
            batch = []
    if batch:
        deleted += redis.unlink(*batch)
    return deleted


def delete_prefix() -> int:
    """Delete every key under this prefix; the count comes back."""
    return unlink_matching(everything())
