"""Freshness between batch runs: notices of users who just acted, their lists rewritten inside
the live versions, and when each user was last refreshed.

A fresh list replaces one user's key in the family's live version with one SET, so a reader
sees the old list or the new one, never half of either. The write checks that the version is
still live; the next batch publish (a new version) or a rollback supersedes it, and the
refresher then refreshes again the users it refreshed after that version's data was read.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from redis.exceptions import ResponseError

from recommendations.store import keys
from recommendations.store.codec import pack, source_code, vectors
from recommendations.store.connection import client, run_script

GROUP = "refreshers"
NOTICE_STREAM_LENGTH = 100_000  # about; older notices are trimmed (PostgreSQL has them all)


def notify(user_ids: Iterable[int]) -> None:
    """Tell the refreshers these users acted (call after the events committed)."""
    users = sorted(set(user_ids))
    if users:
        client().xadd(
            keys.notices(),
            {"users": ",".join(map(str, users))},
            maxlen=NOTICE_STREAM_LENGTH,
            approximate=True,
        )


def _ensure_group() -> None:
    try:
        client().xgroup_create(keys.notices(), GROUP, id="$", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def wait_for_notices(*, consumer: str, timeout_ms: int, count: int = 100) -> set[int]:
    """Users named by notices no other refresher of the group has taken, waiting up to
    `timeout_ms` for one; empty on a timeout. Notices are not acknowledged: losing one costs
    only speed, since the refresher's queue in PostgreSQL holds every user to refresh."""
    _ensure_group()
    reply = client().xreadgroup(
        GROUP, consumer, {keys.notices(): ">"}, count=count, block=timeout_ms or None, noack=True
    )
    users: set[int] = set()
    for _stream, messages in reply or []:
        for _id, fields in messages:
            raw = fields.get(b"users", b"")
            users.update(int(u) for u in raw.split(b",") if u.isdigit())
    return users


@dataclass
class FreshLists:
    """What one refresh pass writes: packed lists and vectors keyed by (family, owner)."""

    lists: dict[tuple[str, object], bytes] = field(default_factory=dict)

    def add_list(
        self,
        family: str,
        owner: object,
        item_ids: npt.ArrayLike,
        scores: npt.ArrayLike,
        sources: npt.ArrayLike | str,
        because: npt.ArrayLike | int = 0,
    ) -> None:
        code = source_code(sources) if isinstance(sources, str) else sources
        self.lists[(family, owner)] = pack(item_ids, scores, code, because).tobytes()

    def add_vector(self, family: str, owner: object, vector: npt.NDArray[np.float32]) -> None:
        self.lists[(family, owner)] = next(iter(vectors(vector[None, :])))

    @property
    def families(self) -> set[str]:
        return {family for family, _ in self.lists}


def write_fresh(fresh: FreshLists, *, versions: dict[str, int]) -> bool:
    """Write the lists into the given live versions if every one is still live; False (nothing
    written) if a pointer moved."""
    if not fresh.lists:
        return True
    families = sorted(fresh.families)
    names = [keys.list_key(versions[family], family, owner) for family, owner in fresh.lists]
    written = run_script(
        "write_fresh.lua",
        keys=[*(keys.live(f) for f in families), *names],
        args=[len(families), *(versions[f] for f in families), *fresh.lists.values()],
    )
    return bool(written)


def live_versions(families: Iterable[str]) -> dict[str, int]:
    """The live version of each family that has one."""
    families = list(families)
    raw = client().mget([keys.live(f) for f in families])
    return {f: int(v) for f, v in zip(families, raw, strict=True) if v is not None}


def mark_refreshed(user_ids: Iterable[int], *, at: float) -> None:
    users = {str(u): at for u in user_ids}
    if users:
        client().zadd(keys.refreshed(), users)


def refreshed_since(timestamp: float) -> list[int]:
    """Users a refresher rewrote at or after `timestamp` (seconds since the epoch)."""
    return [int(u) for u in client().zrangebyscore(keys.refreshed(), timestamp, "+inf")]


def forget_refreshed_before(timestamp: float) -> None:
    client().zremrangebyscore(keys.refreshed(), "-inf", f"({timestamp}")
