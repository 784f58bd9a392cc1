"""The Redis client the store uses, and its Lua scripts (real files beside this one)."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from weakref import WeakKeyDictionary

from django.conf import settings
from django_redis import get_redis_connection
from redis import ConnectionPool, Redis
from redis.commands.core import Script

from recommendations.store.keys import everything

_in_job: ContextVar[bool] = ContextVar("redis_in_job", default=False)
# Per serving pool, its twin with the batch jobs' timeouts (django-redis shares one pool per
# URL, so a second cache alias on the same URL would get the serving timeouts).
_job_pools: WeakKeyDictionary[ConnectionPool, ConnectionPool] = WeakKeyDictionary()


def client() -> Redis:
    """The serving connection (REDIS_TIMEOUT_SECONDS), or inside `job_timeouts()` the same
    server with REDIS_JOB_TIMEOUT_SECONDS."""
    redis = get_redis_connection("default")
    if not _in_job.get():
        return redis
    pool = redis.connection_pool
    twin = _job_pools.get(pool)
    if twin is None:
        wait = settings.REDIS_JOB_TIMEOUT_SECONDS
        twin = _job_pools[pool] = type(pool)(
            connection_class=pool.connection_class,
            max_connections=pool.max_connections,
            **{**pool.connection_kwargs, "socket_timeout": wait, "socket_connect_timeout": wait},
        )
    return Redis(connection_pool=twin)


@contextmanager
def job_timeouts() -> Iterator[None]:
    """Inside: the store's Redis calls wait up to REDIS_JOB_TIMEOUT_SECONDS (a batch job
    waits out a Redis busy freeing an old version instead of failing at the serving path's
    half second)."""
    token = _in_job.set(True)
    try:
        yield
    finally:
        _in_job.reset(token)


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
    """SCAN + UNLINK every key matching `pattern` (never FLUSHDB); the count comes back.
    Redis filters the names as it scans: only the matching ones come back here."""
    return unlink_all(client().scan_iter(match=pattern, count=5000))


def delete_prefix() -> int:
    """Delete every key under this prefix; the count comes back."""
    return unlink_matching(everything())
