"""The Redis client the store uses, and its Lua scripts (real files beside this one)."""

from collections.abc import Iterable
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


def unlink_all(names: Iterable[bytes | str], *, batch: int = 2000) -> int:
    """UNLINK the given keys, `batch` at a time; how many existed."""
    redis, deleted, pending = client(), 0, []
    for name in names:
        pending.append(name)
        if len(pending) >= batch:
            deleted += redis.unlink(*pending)
            pending = []
    if pending:
        deleted += redis.unlink(*pending)
    return deleted


def unlink_matching(pattern: str) -> int:
    """SCAN + UNLINK every key matching `pattern` (never FLUSHDB); the count comes back."""
    return unlink_all(client().scan_iter(match=pattern, count=2000))


def delete_prefix() -> int:
    """Delete every key under this prefix; the count comes back."""
    return unlink_matching(everything())
