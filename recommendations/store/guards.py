"""Guards kept in Redis: locks that expire by themselves, fixed-window rate counters, and the
marks of closed accounts."""

import threading
import time
import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

from recommendations.store import keys
from recommendations.store.connection import client, run_script


class AccountClosed(Exception):
    """The caller's account was deleted or deactivated after its token was issued."""


# ---- locks -------------------------------------------------------------------------------------


def acquire_lock(name: str, *, token: str, ttl_seconds: int) -> bool:
    """Take a lock that expires by itself (a killed holder cannot keep it)."""
    return bool(client().set(keys.lock(name), token, nx=True, ex=ttl_seconds))


def refresh_lock(name: str, *, token: str, ttl_seconds: int) -> bool:
    """Extend the lock if we still hold it."""
    return bool(
        run_script("extend_if_owner.lua", keys=[keys.lock(name)], args=[token, ttl_seconds])
    )


def release_lock(name: str, *, token: str) -> None:
    """Give the lock back if we still hold it."""
    run_script("delete_if_owner.lua", keys=[keys.lock(name)], args=[token])


def lock_holder(name: str) -> tuple[str, int] | None:
    """The token of whoever holds a lock and its seconds left, or None when it is free."""
    pipe = client().pipeline(transaction=False)
    pipe.get(keys.lock(name))
    pipe.ttl(keys.lock(name))
    token, ttl = pipe.execute()
    return (token.decode(), int(ttl)) if token is not None else None


class HeldLock:
    """A Redis lock that expires by itself, refreshed from a thread while held; `lost` is set
    once a refresh finds it gone or taken (a paused or slow holder)."""

    def __init__(self, name: str, *, ttl_seconds: int) -> None:
        self.name, self.ttl_seconds = name, ttl_seconds
        self.token = uuid.uuid4().hex
        self.lost = threading.Event()
        self._done = threading.Event()
        self._beat: threading.Thread | None = None

    def acquire(self) -> bool:
        if not acquire_lock(self.name, token=self.token, ttl_seconds=self.ttl_seconds):
            return False
        self._beat = threading.Thread(target=self._heartbeat, daemon=True)
        self._beat.start()
        return True

    def _heartbeat(self) -> None:
        while not self._done.wait(self.ttl_seconds / 3):
            try:
                held = refresh_lock(self.name, token=self.token, ttl_seconds=self.ttl_seconds)
            except RedisError:
                held = False
            if not held:
                self.lost.set()
                return

    def key(self) -> str:
        return keys.lock(self.name)

    def release(self) -> None:
        self._done.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
        release_lock(self.name, token=self.token)


# ---- rate windows and closed accounts -----------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One request counted against a rate limit (a fixed window), inside the list read or on
    its own."""

    name: str
    client: str
    window_seconds: int
    limit: int
    account: int | None = None  # the caller's user id: refused once the account is closed

    def revoked_key(self) -> str:
        return keys.closed(self.account) if self.account is not None else ""

    def key(self, now: float) -> str:
        return keys.throttle(self.name, self.client, int(now // self.window_seconds))

    def seconds_left(self) -> float:
        """Until the current window ends (what a refused client should wait)."""
        return self.window_seconds - time.time() % self.window_seconds


def count_hit(hit: Hit) -> int:
    """Count one request of `hit`'s client in the current window (one round trip); raise
    AccountClosed if the caller's account was closed."""
    key = hit.key(time.time())
    pipe = client().pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, hit.window_seconds + 1)
    if hit.account is not None:
        pipe.exists(hit.revoked_key())
    count, _, *closed = pipe.execute()
    if closed and closed[0]:
        raise AccountClosed(hit.account)
    return int(count)


def close_account(user_id: int, *, seconds: int) -> None:
    """Refuse the user's tokens on the Redis-only endpoints for `seconds` (as long as an
    access token lives): they are checked without the database, so a deleted or deactivated
    account would otherwise read until its token expired."""
    client().set(keys.closed(user_id), 1, ex=max(1, seconds))
