"""Publishing a family's lists as a whole: a new version, the pointer switch, rollback, and
the sweep of versions nobody serves. One publisher per family at a time."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import numpy.typing as npt
from django.conf import settings

from recommendations.store import keys
from recommendations.store.codec import (
    FAMILY_SOURCE,
    decode_meta,
    encode_json,
    pack,
    packed_rows,
    source_code,
    vectors,
)
from recommendations.store.connection import client, run_script, unlink_all, unlink_matching
from recommendations.store.guards import HeldLock

MEMORY_SAMPLE = 64  # keys of a new version whose MEMORY USAGE estimates the whole
FULL_SWEEP_VERSIONS = 8  # more versions to delete than this: one SCAN reading every name


class PublishLocked(Exception):
    """Another job is publishing the same family."""


class LockLost(Exception):
    """A lock this job held expired or was taken by another job: nothing was switched."""


class NothingToRollBack(Exception):
    """No earlier version of the family is kept."""


# Locks (name, token) the current job holds besides its family's (the pipeline's): a pointer
# switches only while every one of them is still ours.
held_locks: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("held_locks", default=())


def publish_lock_name(family: str) -> str:
    return f"publish:{family}"


def _family_lock(family: str, seconds: int | None = None) -> HeldLock:
    lock = HeldLock(
        publish_lock_name(family), ttl_seconds=seconds or settings.PICKS_PUBLISH_LOCK_SECONDS
    )
    if not lock.acquire():
        raise PublishLocked(f"another job is publishing {family} (its lock has not expired)")
    return lock


class Publication:
    """One new version of a family being written; invisible until `commit`.

    Only one publication of a family exists at a time (a lock that expires if its holder
    dies): a second raises PublishLocked. A publication whose lock was lost stops writing and
    cannot commit.
    """

    def __init__(
        self, family: str, *, batch_keys: int = 2000, lock_seconds: int | None = None
    ) -> None:
        self.family = family
        self.lock = _family_lock(family, lock_seconds)
        try:
            if keys.VARIANT_MARK in family:  # kept by every sweep from now on
                client().sadd(keys.extra_families(), family)
            self.version = int(
                run_script(
                    "new_version.lua", keys=[keys.version_seq(), keys.versions(family)], args=[]
                )
            )
        except BaseException:
            self.lock.release()
            raise
        self.batch_keys = batch_keys
        self.pipe = client().pipeline(transaction=False)
        self.packed: dict[str, bytes] = {}  # written with one MSET per batch
        self.pending = 0
        self.lists = 0
        self.default_source = source_code(FAMILY_SOURCE.get(keys.base_family(family), "als"))
        self.previous: int | None = None
        self.committed = False
        self.sampled: list[str] = []  # the first keys written: their memory is measured

    def _add(self, key: str, value: bytes) -> None:
        self.packed[key] = value
        self._sample(key)
        self._queued()

    def _sample(self, key: str) -> None:
        if len(self.sampled) < MEMORY_SAMPLE:
            self.sampled.append(key)

    def memory_estimate(self) -> int:
        """Bytes of Redis memory this version takes: the mean of the sampled keys' MEMORY
        USAGE times the number of lists (one pipeline, whatever the size)."""
        if not self.sampled:
            return 0
        pipe = client().pipeline(transaction=False)
        for key in self.sampled:
            pipe.memory_usage(key, samples=0)
        used = [u for u in pipe.execute() if u is not None]
        return round(sum(used) / len(used) * self.lists) if used else 0

    def _queued(self) -> None:
        """One more key waits to be written: write the batch once it is full."""
        self.pending += 1
        if self.pending >= self.batch_keys:
            self.flush()

    def put(
        self,
        owner: object,
        item_ids: npt.ArrayLike,
        scores: npt.ArrayLike,
        sources: npt.ArrayLike | None = None,
        because: npt.ArrayLike | int = 0,
    ) -> None:
        """Write one ranked list, best first (source codes per entry, else the family's; the
        item that explains each entry, 0 for none); an empty list writes nothing."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if not len(item_ids):
            return
        key = keys.list_key(self.version, self.family, owner)
        self.lists += 1
        if keys.base_family(self.family) in keys.SORTED_SET_FAMILIES:
            mapping = dict(zip(item_ids.tolist(), np.asarray(scores, float).tolist(), strict=True))
            self.pipe.zadd(key, mapping)
            self._sample(key)
            self._queued()
            return
        source = self.default_source if sources is None else sources
        self._add(key, pack(item_ids, scores, source, because).tobytes())

    def put_rows(
        self,
        owners: npt.NDArray[np.int64],
        item_ids: npt.NDArray[np.int64],
        scores: npt.NDArray[np.float32],
        because: npt.NDArray[np.int64] | int = 0,
        *,
        sources: npt.NDArray | None = None,
    ) -> None:
        """Write one packed list per row of (owners x n) arrays (source codes per entry, else
        the family's); -1 ids pad a row's end."""
        source = self.default_source if sources is None else sources
        prefix = keys.version_prefix(self.version)
        for owner, blob in packed_rows(owners, item_ids, scores, source, because):
            self.lists += 1
            self._add(prefix + keys.list_name(self.family, owner), blob)

    def key_template(self, owner_mark: str) -> str:
        """This version's key of a list, `owner_mark` where its owner goes: for writers
        outside this process (Spark executors), which fill it in."""
        return keys.list_key(self.version, self.family, owner_mark)

    def written_elsewhere(self, *, lists: int, sample: list[str]) -> None:
        """Count lists another process wrote into this version (some of their keys sample
        its memory)."""
        self.lists += lists
        for key in sample:
            self._sample(key)

    def put_vectors(self, kind: str, ids: npt.NDArray[np.int64], rows: npt.NDArray) -> None:
        """Write one float32 vector per id (MF embeddings: kind "user" or "item")."""
        for owner, blob in zip(np.asarray(ids).tolist(), vectors(rows), strict=True):
            self.lists += 1
            self._add(keys.list_key(self.version, self.family, (kind, owner)), blob)

    def flush(self) -> None:
        if self.lock.lost.is_set():
            raise LockLost(f"the publish lock of {self.family} expired or was taken")
        if self.packed:
            self.pipe.mset(self.packed)
            self.packed = {}
        self.pipe.execute()
        self.pending = 0

    def commit(self, **meta: object) -> None:
        """Switch readers to this version if every lock of the job is still held; keep the
        version before for rollback; delete every other version of the family and any
        version no family names (a dead or stray writer's)."""
        self.flush()
        meta = {**meta, "lists": self.lists, "version": self.version}
        meta["memory_bytes"] = self.memory_estimate()
        locks = [(self.lock.name, self.lock.token), *held_locks.get()]
        status, detail = run_script(
            "switch.lua",
            keys=[
                keys.live(self.family),
                keys.previous(self.family),
                keys.meta(self.family, self.version),
                *(keys.lock(name) for name, _ in locks),
            ],
            args=[
                self.version,
                encode_json(meta),
                *(token for _, token in locks),
            ],
        )
        if status < 0:
            raise LockLost(f"{detail.decode()} is no longer held: {self.family} not switched")
        self.previous = int(detail) if detail else None
        self.committed = True
        try:
            sweep_versions(self.family, keep={self.version, self.previous} - {None})
        finally:
            self.lock.release()

    def abort(self) -> None:
        """Drop whatever this version wrote and give the lock back."""
        self.pipe.reset()
        self.packed = {}
        try:
            # One scan of every name, not the per-version one: Spark's executors can still be
            # writing for a moment after a failed stage, and this slower pass is what lets
            # their last writes land before it (a known race, seen in test_spark's partition
            # that fails midway).
            _sweep(lambda version: version == self.version)
            client().srem(keys.versions(self.family), self.version)
        finally:
            self.lock.release()


@contextmanager
def publishing(family: str) -> Iterator[Publication]:
    """Write a new version inside the block; it goes live only if the block commits it
    (`publication.commit(...)`); otherwise, or on an exception, the partial one is removed
    and the live version stays as it was."""
    publication = Publication(family)
    try:
        yield publication
    except BaseException:
        if not publication.committed:
            publication.abort()
        raise
    if not publication.committed:
        publication.abort()


def _sweep(doomed: Callable[[int], bool]) -> int:
    """One SCAN over every versioned key and meta key: unlink those whose version is doomed."""
    redis = client()
    return unlink_all(
        key
        for pattern in keys.version_patterns()
        for key in redis.scan_iter(match=pattern, count=5000)
        if (version := keys.version_of(key)) is not None and doomed(version)
    )


def _unlink_version(version: int, families: set[str]) -> int:
    """Unlink one version's keys (one SCAN that Redis filters) and its meta key under any of
    `families`."""
    lists = unlink_matching(keys.version_prefix(version) + "*")
    return lists + client().unlink(*(keys.meta(family, version) for family in families))


def sweep_versions(family: str, *, keep: set[int]) -> int:
    """Delete every version of `family` not in `keep`, and every version that no family names
    (left by a writer that lost its set entry); how many keys went.

    A version nobody names can only be one issued since the last sweep looked (the
    `swept_through` mark), so each doomed version costs one SCAN that Redis filters; only
    where more than FULL_SWEEP_VERSIONS versions are doomed or were issued since the mark, or
    there is no mark yet, are every versioned key's names read here (at a million users that
    is millions of names, about 28 s a publish)."""
    redis = client()
    issued = int(redis.get(keys.version_seq()) or 0)  # read first: later ones are being written
    swept = redis.get(keys.swept_through())
    own = {int(v) for v in redis.smembers(keys.versions(family))}
    families = {*keys.FAMILIES, *(f.decode() for f in redis.smembers(keys.extra_families()))}
    named = {int(v) for f in families for v in redis.smembers(keys.versions(f))}
    alive = (named - own) | keep

    def gone(version: int) -> bool:
        return version <= issued and version not in alive

    unnamed = range(int(swept) + 1, issued + 1) if swept is not None else None
    doomed = (  # None: no mark, or more issued since than versions worth a scan each
        sorted(filter(gone, own.union(unnamed)))
        if unnamed is not None and len(unnamed) <= FULL_SWEEP_VERSIONS
        else None
    )
    if doomed is None or len(doomed) > FULL_SWEEP_VERSIONS:
        deleted = _sweep(gone)
    else:
        deleted = sum(_unlink_version(version, families) for version in doomed)
    redis.set(keys.swept_through(), issued)
    if own - keep:
        redis.srem(keys.versions(family), *(own - keep))
    return deleted


def rollback(family: str) -> int:
    """Serve the previous version again (the current one becomes the previous); its number."""
    lock = _family_lock(family)
    try:
        status, version = run_script(
            "swap.lua",
            keys=[keys.live(family), keys.previous(family), lock.key()],
            args=[lock.token],
        )
    finally:
        lock.release()
    if status == -2:
        raise NothingToRollBack(f"no earlier version of {family} is kept")
    if status < 0:
        raise LockLost(f"the publish lock of {family} was lost: nothing rolled back")
    return int(version)


def live_version(family: str) -> int | None:
    """The version readers see now, if any."""
    raw = client().get(keys.live(family))
    return int(raw) if raw is not None else None


def previous_version(family: str) -> int | None:
    """The version a rollback would serve again, if one is kept."""
    raw = client().get(keys.previous(family))
    return int(raw) if raw is not None else None


def version_meta(family: str, *, version: int | None = None) -> dict:
    """What the job that wrote a version (the live one by default) recorded (built_at, lists,
    model run ...); empty when it is not kept."""
    version = live_version(family) if version is None else version
    if version is None:
        return {}
    return decode_meta(client().get(keys.meta(family, version)))
