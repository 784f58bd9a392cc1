"""The only module that knows Redis key names, versions and serialisation.

Ranked lists are stored packed: one string of (item id int64, score float32) records per list,
so a job writes a list with one command and a reader gets it with one GET. Bought-together
lists are sorted sets scored by lift, so other tools can query them with ZRANGE too.

Every key starts with ``settings.PICKS_REDIS_PREFIX``. Lists are published as a whole: a job
writes a new version of a family's keys (``{prefix}:v{n}:...``), then one pointer
(``{prefix}:live:{family}``) switches to it; readers resolve the pointer, so they never see
half a list, and a job that dies before the switch leaves the old version serving. The
version before the live one is kept for rollback; older ones are deleted on the next publish.
"""

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import orjson
from django.conf import settings
from django_redis import get_redis_connection
from redis import Redis
from redis.commands.core import Script
from redis.exceptions import RedisError

TOP_BUYS = "top_buys"
GLOBAL = "global"
BOUGHT_TOGETHER = "bought_together"
DECK = "deck"
SIMILAR = "similar"
MF = "mf"
RATINGS = "ratings"  # the ratings model's embeddings, apart from the swipe model's
FAMILIES = (TOP_BUYS, GLOBAL, BOUGHT_TOGETHER, DECK, SIMILAR, MF, RATINGS)
GLOBAL_TOP_BUYS = "top_buys"
GLOBAL_TRENDING = "trending"
SORTED_SET_FAMILIES = frozenset({BOUGHT_TOGETHER})
# Where an entry came from, stored as one byte per entry.
SOURCES = ("als", "mf", "explore", "popular", "basket", "content", "similar")
FAMILY_SOURCE = {
    TOP_BUYS: "als",
    GLOBAL: "popular",
    BOUGHT_TOGETHER: "basket",
    DECK: "mf",
    SIMILAR: "similar",
}
RECORD = np.dtype([("item", "<i8"), ("score", "<f4"), ("source", "u1")])
VECTOR = np.dtype("<f4")


@dataclass(frozen=True)
class Entry:
    item_id: int
    score: float
    source: str = ""


class AccountClosed(Exception):
    """The caller's account was deleted or deactivated after its token was issued."""


class NothingToRollBack(Exception):
    """No earlier version of the family is kept."""


def _redis() -> Redis:
    return get_redis_connection("default")


_scripts: dict[str, Script] = {}


def _run_script(source: str, args: list[object], *, keys: list[str] | None = None) -> object:
    """EVALSHA of a Lua script (loaded on first use), its sha computed once per process."""
    redis = _redis()
    script = _scripts.get(source)
    if script is None:
        script = _scripts[source] = redis.register_script(source)
    return script(keys=keys or [], args=args, client=redis)


def _key(*parts: object) -> str:
    return ":".join([settings.PICKS_REDIS_PREFIX, *map(str, parts)])


def _list_parts(family: str, owner: object) -> tuple[object, ...]:
    """Logical name of one list inside a version, e.g. ('user', 7, 'top_buys')."""
    if family == TOP_BUYS:
        return ("user", owner, "top_buys")
    if family == BOUGHT_TOGETHER:
        return ("product", owner, "bought_together")
    if family == DECK:
        return ("user", owner, "deck")
    if family == SIMILAR:
        return ("product", owner, "similar")
    if family in (MF, RATINGS):
        return (family, *owner)  # ("user" | "item", id)
    return ("global", owner)


def source_code(name: str) -> int:
    return SOURCES.index(name)


def ping() -> None:
    """Raise a RedisError if the store does not answer."""
    _redis().ping()


# ---- publishing -----------------------------------------------------------------------


class PublishLocked(Exception):
    """Another job is publishing the same family."""


class LockLost(Exception):
    """A lock this job held expired or was taken by another job: nothing was switched."""


# Locks (name, token) the current job holds besides its family's (the pipeline's): a pointer
# switches only while every one of them is still ours.
held_locks: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("held_locks", default=())

# A new version number, named in its family's set in the same step: the orphan sweep never
# mistakes a version being written for one nobody names.
_NEW_VERSION = """
local version = redis.call('INCR', KEYS[1])
redis.call('SADD', KEYS[2], version)
return version
"""
# The switch: only while every lock is held by its token; the meta first, then the pointers.
# KEYS: live, previous, meta, lock keys...; ARGV: version, meta json, tokens...
_SWITCH = """
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[i - 1] then return {-1, KEYS[i]} end
end
redis.call('SET', KEYS[3], ARGV[2])
local old = redis.call('GET', KEYS[1])
if old then redis.call('SET', KEYS[2], old) end
redis.call('SET', KEYS[1], ARGV[1])
return {0, old or false}
"""
# Rollback: live and previous change places, under the family's publish lock.
_SWAP = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {-1, false} end
local old = redis.call('GET', KEYS[2])
if not old then return {-2, false} end
local current = redis.call('GET', KEYS[1])
redis.call('SET', KEYS[1], old)
if current then redis.call('SET', KEYS[2], current) end
return {0, old}
"""


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
        return _key("lock", self.name)

    def release(self) -> None:
        self._done.set()
        if self._beat is not None:
            self._beat.join()
            self._beat = None
        release_lock(self.name, token=self.token)


def publish_lock_name(family: str) -> str:
    return f"publish:{family}"


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
        self.redis = _redis()
        self.lock = HeldLock(
            publish_lock_name(family),
            ttl_seconds=lock_seconds or settings.PICKS_PUBLISH_LOCK_SECONDS,
        )
        if not self.lock.acquire():
            raise PublishLocked(f"another job is publishing {family} (its lock has not expired)")
        try:
            self.version = int(
                _run_script(_NEW_VERSION, [], keys=[_key("version_seq"), _key("versions", family)])
            )
        except BaseException:
            self.lock.release()
            raise
        self.batch_keys = batch_keys
        self.pipe = self.redis.pipeline(transaction=False)
        self.packed: dict[str, bytes] = {}  # written with one MSET per batch
        self.pending = 0
        self.lists = 0
        self.default_source = source_code(FAMILY_SOURCE.get(family, "als"))
        self.previous: int | None = None
        self.committed = False

    def put(
        self,
        owner: object,
        item_ids: npt.ArrayLike,
        scores: npt.ArrayLike,
        sources: npt.ArrayLike | None = None,
    ) -> None:
        """Write one ranked list, best first (source codes per entry, else the family's);
        an empty list writes nothing."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if not len(item_ids):
            return
        key = _key(f"v{self.version}", *_list_parts(self.family, owner))
        if self.family in SORTED_SET_FAMILIES:
            mapping = dict(zip(item_ids.tolist(), np.asarray(scores, float).tolist(), strict=True))
            self.pipe.zadd(key, mapping)
        else:
            records = np.empty(len(item_ids), dtype=RECORD)
            records["item"], records["score"] = item_ids, scores
            records["source"] = self.default_source if sources is None else sources
            self.packed[key] = records.tobytes()
        self.pending += 1
        self.lists += 1
        if self.pending >= self.batch_keys:
            self.flush()

    def put_rows(
        self,
        owners: npt.NDArray[np.int64],
        item_ids: npt.NDArray[np.int64],
        scores: npt.NDArray[np.float32],
    ) -> None:
        """Write one packed list per row of (owners x n) arrays; -1 ids pad a row's end."""
        records = np.empty(item_ids.shape, dtype=RECORD)
        records["item"], records["score"] = item_ids, scores
        records["source"] = self.default_source
        lengths = (item_ids >= 0).sum(axis=1)
        prefix = _key(f"v{self.version}", "")
        for owner, row, length in zip(owners.tolist(), records, lengths.tolist(), strict=True):
            if length:
                key = prefix + ":".join(map(str, _list_parts(self.family, owner)))
                self.packed[key] = row[:length].tobytes()
                self.pending += 1
                self.lists += 1
                if self.pending >= self.batch_keys:
                    self.flush()

    def put_vectors(self, kind: str, ids: npt.NDArray[np.int64], vectors: npt.NDArray) -> None:
        """Write one float32 vector per id (MF embeddings: kind "user" or "item")."""
        rows = np.ascontiguousarray(vectors, dtype=VECTOR)
        for owner, row in zip(np.asarray(ids).tolist(), rows, strict=True):
            self.packed[_key(f"v{self.version}", *_list_parts(self.family, (kind, owner)))] = (
                row.tobytes()
            )
            self.pending += 1
            if self.pending >= self.batch_keys:
                self.flush()
        self.lists += len(rows)

    def _check_held(self) -> None:
        if self.lock.lost.is_set():
            raise LockLost(f"the publish lock of {self.family} expired or was taken")

    def flush(self) -> None:
        self._check_held()
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
        locks = [(self.lock.name, self.lock.token), *held_locks.get()]
        meta_json = orjson.dumps({**meta, "lists": self.lists, "version": self.version})
        status, detail = _run_script(
            _SWITCH,
            [self.version, meta_json, *(token for _, token in locks)],
            keys=[
                _key("live", self.family),
                _key("previous", self.family),
                _key("meta", self.family, self.version),
                *(_key("lock", name) for name, _ in locks),
            ],
        )
        if status < 0:
            raise LockLost(f"{detail.decode()} is no longer held: {self.family} not switched")
        self.previous = int(detail) if detail else None
        keep = {self.version} | ({self.previous} if self.previous is not None else set())
        self.committed = True
        try:
            sweep_versions(self.family, keep=keep)
        finally:
            self.lock.release()

    def abort(self) -> None:
        """Drop whatever this version wrote and give the lock back."""
        self.pipe.reset()
        self.packed = {}
        try:
            _delete_versions_now({self.version}, families=(self.family,))
        finally:
            self.lock.release()


@contextmanager
def publishing(family: str) -> Iterator[Publication]:
    """Write a new version inside the block; it goes live only if the block ends cleanly.

    The caller commits with `publication.commit(...)`; an exception (or no commit) leaves the
    live version as it was and removes the partial one.
    """
    publication = Publication(family)
    try:
        yield publication
    except BaseException:
        if not publication.committed:
            publication.abort()
        raise
    if not publication.committed:
        publication.abort()


def _scan_delete(redis: Redis, pattern: str) -> int:
    deleted, batch = 0, []
    for key in redis.scan_iter(match=pattern, count=2000):
        batch.append(key)
        if len(batch) >= 2000:
            deleted += redis.unlink(*batch)
            batch = []
    if batch:
        deleted += redis.unlink(*batch)
    return deleted


def _version_of(key: bytes, *, version_at: int, meta_at: int) -> int | None:
    """The version number a versioned list key or a meta key belongs to."""
    text = key.decode()
    if text.startswith(_key("meta", "")):
        number = text[meta_at:].rsplit(":", 1)[-1]
    else:
        number = text[version_at:].split(":", 1)[0]
    return int(number) if number.isdigit() else None


def _delete_versions_now(doomed: set[int], *, families: tuple[str, ...]) -> None:
    """Delete the keys of the given versions (one SCAN), then forget them."""
    _sweep(lambda version: version in doomed)
    redis = _redis()
    for family in families:
        if doomed:
            redis.srem(_key("versions", family), *doomed)


def _sweep(doomed: Callable[[int], bool]) -> int:
    """One SCAN over every versioned key and meta key: unlink those whose version is doomed."""
    redis = _redis()
    version_at, meta_at = len(_key("v")), len(_key("meta", ""))
    batch, deleted = [], 0
    for pattern in (_key("v[0-9]*"), _key("meta", "*")):
        for key in redis.scan_iter(match=pattern, count=5000):
            version = _version_of(key, version_at=version_at, meta_at=meta_at)
            if version is not None and doomed(version):
                batch.append(key)
                if len(batch) >= 2000:
                    deleted += redis.unlink(*batch)
                    batch = []
    if batch:
        deleted += redis.unlink(*batch)
    return deleted


def sweep_versions(family: str, *, keep: set[int]) -> int:
    """Delete every version of `family` not in `keep`, and every version that no family names
    (left by a writer that lost its set entry); how many keys went."""
    redis = _redis()
    issued = int(redis.get(_key("version_seq")) or 0)  # read first: later ones are being written
    own = {int(v) for v in redis.smembers(_key("versions", family))}
    named = {int(v) for f in FAMILIES for v in redis.smembers(_key("versions", f))}
    alive = (named - own) | keep
    deleted = _sweep(lambda version: version <= issued and version not in alive)
    if own - keep:
        redis.srem(_key("versions", family), *(own - keep))
    return deleted


def rollback(family: str) -> int:
    """Serve the previous version again (the current one becomes the previous); its number."""
    lock = HeldLock(publish_lock_name(family), ttl_seconds=settings.PICKS_PUBLISH_LOCK_SECONDS)
    if not lock.acquire():
        raise PublishLocked(f"another job is publishing {family} (its lock has not expired)")
    try:
        status, version = _run_script(
            _SWAP,
            [lock.token],
            keys=[_key("live", family), _key("previous", family), lock.key()],
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
    raw = _redis().get(_key("live", family))
    return int(raw) if raw is not None else None


def version_meta(family: str) -> dict:
    """What the live version's job recorded (built_at, lists, model run ...)."""
    version = live_version(family)
    if version is None:
        return {}
    return _meta(_redis().get(_key("meta", family, version)))


def _meta(raw: bytes | None) -> dict:
    """A version's stored job metadata; empty when none was stored."""
    return orjson.loads(raw) if raw else {}


# ---- reading lists ------------------------------------------------------------------------


def read_list(family: str, owner: object, *, limit: int) -> list[Entry]:
    """The live version of one list, best first; empty when there is none."""
    return read_ranked(family, owner, limit=limit).entries


def read_deck(*, user_id: int, limit: int) -> list[Entry]:
    """The user's deck without the items they swiped or bought since it was built."""
    # Seen items may sit anywhere in the stored list: read past `limit` before dropping them.
    ranked = read_ranked(
        DECK, user_id, limit=limit + settings.PICKS_LIST_LENGTH, seen_of_user=user_id
    )
    return [e for e in ranked.entries if e.item_id not in ranked.seen][:limit]


def read_similar(*, item_id: int, limit: int) -> list[Entry]:
    return read_list(SIMILAR, item_id, limit=limit)


def read_vectors(kind: str, ids: list[int]) -> dict[int, npt.NDArray[np.float32]]:
    """MF embeddings of the live version ("user" or "item"), for the ids that have one."""
    redis = _redis()
    version = redis.get(_key("live", MF))
    if version is None or not ids:
        return {}
    keys = [_key(f"v{version.decode()}", *_list_parts(MF, (kind, i))) for i in ids]
    return {
        i: np.frombuffer(raw, dtype=VECTOR)
        for i, raw in zip(ids, redis.mget(keys), strict=True)
        if raw
    }


def unpack(blob: bytes | None, *, limit: int) -> list[Entry]:
    """Entries of a packed list (none for a missing key)."""
    if not blob:
        return []
    records = np.frombuffer(blob, dtype=RECORD, count=min(limit, len(blob) // RECORD.itemsize))
    return [Entry(item, score, SOURCES[source]) for item, score, source in records.tolist()]


def read_top_buys(*, user_id: int, limit: int) -> list[Entry]:
    return read_list(TOP_BUYS, user_id, limit=limit)


def read_global(name: str, *, limit: int) -> list[Entry]:
    return read_list(GLOBAL, name, limit=limit)


def read_bought_together(*, item_id: int, limit: int) -> list[Entry]:
    return read_list(BOUGHT_TOGETHER, item_id, limit=limit)


# ---- item cards (current state, not versioned: a catalog change shows at once) ---------------


def write_cards(cards: Iterable[dict], *, batch_keys: int = 5000) -> int:
    """Store item cards (each has an `id`); how many were written."""
    pipe, written = _redis().pipeline(transaction=False), 0
    for card in cards:
        pipe.set(_key("card", card["id"]), orjson.dumps(card))
        written += 1
        if written % batch_keys == 0:
            pipe.execute()
    pipe.execute()
    return written


def delete_cards(item_ids: Iterable[int]) -> None:
    """Remove cards of items that must no longer be shown."""
    keys = [_key("card", i) for i in item_ids]
    for start in range(0, len(keys), 5000):
        _redis().unlink(*keys[start : start + 5000])


def card_ids() -> set[int]:
    """Ids of every item with a card."""
    prefix = _key("card", "")
    return {
        int(k.decode()[len(prefix) :]) for k in _redis().scan_iter(match=prefix + "*", count=5000)
    }


def read_cards(item_ids: list[int]) -> dict[int, dict]:
    """Cards of the given items that have one."""
    if not item_ids:
        return {}
    raw = _redis().mget([_key("card", i) for i in item_ids])
    return {i: orjson.loads(r) for i, r in zip(item_ids, raw, strict=True) if r is not None}


# ---- per-user live state ---------------------------------------------------------------------


def seen_items(*, user_id: int) -> set[int]:
    """Items the user swiped or bought, which the deck never shows again."""
    return {int(i) for i in _redis().smembers(_key("user", user_id, "seen"))}


def add_seen_many(*, seen: dict[int, set[int]]) -> None:
    """Record, for many users at once, items they swiped or bought (one pipeline)."""
    pipe = _redis().pipeline(transaction=False)
    for user_id, item_ids in seen.items():
        if item_ids:
            pipe.sadd(_key("user", user_id, "seen"), *item_ids)
    pipe.execute()


# ---- locks -------------------------------------------------------------------------------------


_EXTEND_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""
_DELETE_IF_OWNER = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def acquire_lock(name: str, *, token: str, ttl_seconds: int) -> bool:
    """Take a lock that expires by itself (a killed holder cannot keep it)."""
    return bool(_redis().set(_key("lock", name), token, nx=True, ex=ttl_seconds))


def refresh_lock(name: str, *, token: str, ttl_seconds: int) -> bool:
    """Extend the lock if we still hold it."""
    return bool(_redis().eval(_EXTEND_IF_OWNER, 1, _key("lock", name), token, ttl_seconds))


def release_lock(name: str, *, token: str) -> None:
    """Give the lock back if we still hold it."""
    _redis().eval(_DELETE_IF_OWNER, 1, _key("lock", name), token)


def delete_prefix() -> int:
    """Delete every key under this prefix (SCAN + UNLINK, never FLUSHDB); the count comes back."""
    return _scan_delete(_redis(), f"{settings.PICKS_REDIS_PREFIX}:*")


# ---- one-round-trip reads for the API -------------------------------------------------------

_READ_LIST = """
local prefix, family, suffix = ARGV[1], ARGV[2], ARGV[3]
local limit, zset, seen_key = tonumber(ARGV[4]), ARGV[5] == '1', ARGV[6]
local record_bytes = tonumber(ARGV[7])
local seen = {}
if seen_key ~= '' then seen = redis.call('SMEMBERS', seen_key) end
local version = redis.call('GET', prefix .. ':live:' .. family)
if not version then return {false, false, false, seen} end
local key = prefix .. ':v' .. version .. ':' .. suffix
local meta = redis.call('GET', prefix .. ':meta:' .. family .. ':' .. version)
local data
if zset then
  data = redis.call('ZREVRANGE', key, 0, limit - 1, 'WITHSCORES')
else
  data = redis.call('GETRANGE', key, 0, limit * record_bytes - 1)
end
return {version, meta, data, seen}
"""


@dataclass(frozen=True)
class Ranked:
    """A live list as the API reads it: version, what the job recorded, the entries."""

    version: int | None
    meta: dict
    entries: list[Entry]
    seen: frozenset[int] = frozenset()


def read_ranked(
    family: str, owner: object, *, limit: int, seen_of_user: int | None = None
) -> Ranked:
    """Pointer, metadata and list in one round trip (plus the user's seen set, for decks)."""
    suffix = ":".join(map(str, _list_parts(family, owner)))
    seen_key = _key("user", seen_of_user, "seen") if seen_of_user is not None else ""
    zset = "1" if family in SORTED_SET_FAMILIES else "0"
    version, meta, data, seen = _run_script(
        _READ_LIST,
        [
            settings.PICKS_REDIS_PREFIX,
            family,
            suffix,
            limit,
            zset,
            seen_key,
            RECORD.itemsize,
        ],
    )
    seen_ids = frozenset(int(i) for i in seen)
    if version is None:
        return Ranked(None, {}, [], seen_ids)
    if family in SORTED_SET_FAMILIES:
        pairs = zip(data[::2], data[1::2], strict=True)
        entries = [Entry(int(i), float(s), FAMILY_SOURCE[family]) for i, s in pairs]
    else:
        entries = unpack(data, limit=limit)
    return Ranked(int(version), _meta(meta), entries, seen_ids)


_READ_PAGE = """
local prefix, record_bytes, want = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local hit_key, hit_ttl, need_card, seen_key = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local revoked_key, n_exclude = ARGV[8], tonumber(ARGV[9])
local excluded = {}
for i = 1, n_exclude do excluded[ARGV[9 + i]] = true end
local hits = 0
if hit_key ~= '' then
  hits = redis.call('INCR', hit_key)
  if hits == 1 then redis.call('EXPIRE', hit_key, hit_ttl) end
end
if revoked_key ~= '' and redis.call('EXISTS', revoked_key) == 1 then return {hits, -2} end
local card_prefix = prefix .. ':card:'
if need_card ~= '' and redis.call('EXISTS', card_prefix .. need_card) == 0 then
  return {hits, -1}
end
local pos, source = 10 + n_exclude, 0
while pos <= #ARGV do
  source = source + 1
  local family, suffix, stored = ARGV[pos], ARGV[pos + 1], tonumber(ARGV[pos + 3])
  local zset = ARGV[pos + 2] == '1'
  pos = pos + 4
  local version = redis.call('GET', prefix .. ':live:' .. family)
  if version then
    local key = prefix .. ':v' .. version .. ':' .. suffix
    -- entry(i): id and payload (the packed record, or 'id score'), decoded only when reached
    local count, entry
    if zset then
      local flat = redis.call('ZREVRANGE', key, 0, stored - 1, 'WITHSCORES')
      count = #flat / 2
      entry = function(i) return flat[2 * i - 1], flat[2 * i - 1] .. ' ' .. flat[2 * i] end
    else
      local data = redis.call('GETRANGE', key, 0, stored * record_bytes - 1)
      count = math.floor(#data / record_bytes)
      entry = function(i)
        local off = (i - 1) * record_bytes + 1
        local id = string.format('%d', struct.unpack('<i8', data, off))
        return id, string.sub(data, off, off + record_bytes - 1)
      end
    end
    if count > 0 then
      local meta = redis.call('GET', prefix .. ':meta:' .. family .. ':' .. version)
      -- the first `want` entries not excluded, not seen and with a card (active items)
      local picked, cards, i = {}, {}, 1
      while i <= count and #picked < want do
        local batch, keys = {}, {}
        while i <= count and #batch < want - #picked do
          local id, payload = entry(i)
          local seen = seen_key ~= '' and redis.call('SISMEMBER', seen_key, id) == 1
          if not excluded[id] and not seen then
            batch[#batch + 1] = payload
            keys[#keys + 1] = card_prefix .. id
          end
          i = i + 1
        end
        if #keys > 0 then
          local found = redis.call('MGET', unpack(keys))
          for j = 1, #batch do
            if found[j] then
              picked[#picked + 1] = batch[j]
              cards[#cards + 1] = found[j]
            end
          end
        end
      end
      -- two strings, not 2 x want: far cheaper for the client to parse
      local sep = ''
      if zset then sep = '\\n' end
      return {hits, source, version, meta or false, table.concat(picked, sep),
              table.concat(cards, '\\n')}
    end
  end
end
return {hits, 0}
"""


@dataclass(frozen=True)
class Hit:
    """One request counted against a rate limit, inside the read (a fixed window)."""

    name: str
    client: str
    window_seconds: int
    account: int | None = None  # the caller's user id: refused once the account is closed

    def revoked_key(self) -> str:
        return _key("closed", "user", self.account) if self.account is not None else ""

    def key(self, now: float) -> str:
        return _key("throttle", self.name, self.client, int(now // self.window_seconds))

    def seconds_left(self) -> float:
        """Until the current window ends (what a refused client should wait)."""
        return self.window_seconds - time.time() % self.window_seconds


@dataclass(frozen=True)
class Page:
    """What one API read found: the list that answered (its index in the asked-for chain, or
    None), its version and job metadata, and its first entries with their cards as stored
    (raw JSON). `hits` is the request count of the rate window when a Hit was given."""

    hits: int
    source: int | None
    version: int | None
    meta: dict
    entries: list[Entry]
    cards: list[bytes]
    item_missing: bool = False


def read_page(
    chain: list[tuple[str, object]],
    *,
    want: int,
    stored: int,
    exclude: Iterable[int] = (),
    seen_of_user: int | None = None,
    require_card: int | None = None,
    hit: Hit | None = None,
) -> Page:
    """One round trip for an API list: count the hit, check the item exists, take the first
    list of `chain` ((family, owner) pairs, in fallback order) that is published and not
    empty, and return its first `want` entries that are not excluded, not seen by the user
    and still have a card (deactivated items have none), with those cards."""
    now = time.time()
    args: list[object] = [
        settings.PICKS_REDIS_PREFIX,
        RECORD.itemsize,
        want,
        hit.key(now) if hit else "",
        hit.window_seconds + 1 if hit else 0,
        require_card if require_card is not None else "",
        _key("user", seen_of_user, "seen") if seen_of_user is not None else "",
        hit.revoked_key() if hit else "",
    ]
    exclude = list(exclude)
    args += [len(exclude), *exclude]
    for family, owner in chain:
        zset = "1" if family in SORTED_SET_FAMILIES else "0"
        args += [family, ":".join(map(str, _list_parts(family, owner))), zset, stored]
    reply = _run_script(_READ_PAGE, args)
    hits, found = int(reply[0]), int(reply[1])
    if found == -2:
        raise AccountClosed(hit.account)
    if found <= 0:
        return Page(hits, None, None, {}, [], [], item_missing=found < 0)
    _, _, version, raw_meta, picked, cards = reply
    meta = _meta(raw_meta)
    if not cards:
        return Page(hits, found - 1, int(version), meta, [], [])
    family = chain[found - 1][0]
    if family in SORTED_SET_FAMILIES:
        pairs = (p.split(b" ") for p in picked.split(b"\n"))
        entries = [Entry(int(i), float(s), FAMILY_SOURCE[family]) for i, s in pairs]
    else:
        entries = unpack(picked, limit=len(picked) // RECORD.itemsize)
    # Cards are JSON written by orjson, which escapes newlines inside strings.
    return Page(hits, found - 1, int(version), meta, entries, cards.split(b"\n"))


def read_raw_cards(item_ids: list[int]) -> dict[int, bytes]:
    """Cards of the given items that have one, as stored (JSON)."""
    if not item_ids:
        return {}
    raw = _redis().mget([_key("card", i) for i in item_ids])
    return {i: r for i, r in zip(item_ids, raw, strict=True) if r is not None}


def read_many(
    family: str, owners: list[object], *, limit: int
) -> tuple[dict, dict[object, list[Entry]]]:
    """Several packed lists of one family (e.g. the similar lists of a few liked items), and
    what the live version's job recorded (its `version` and `built_at`)."""
    redis = _redis()
    version = redis.get(_key("live", family))
    if version is None:
        return {}, {}
    pipe = redis.pipeline(transaction=False)
    pipe.get(_key("meta", family, version.decode()))
    for owner in owners:
        pipe.get(_key(f"v{version.decode()}", *_list_parts(family, owner)))
    meta, *blobs = pipe.execute()
    lists = {owner: unpack(blob, limit=limit) for owner, blob in zip(owners, blobs, strict=True)}
    return _meta(meta), lists


def count_hit(hit: Hit) -> int:
    """Count one request of `hit`'s client in the current window (one round trip); raise
    AccountClosed if the caller's account was closed."""
    key = hit.key(time.time())
    pipe = _redis().pipeline(transaction=False)
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
    _redis().set(_key("closed", "user", user_id), 1, ex=max(1, seconds))
