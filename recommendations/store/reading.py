"""Reads of published lists: the one read of an API page (tests and benchmarks read through
it too), the several lists behind "more like these", and the MF vectors of a prediction."""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from django.conf import settings

from recommendations.store import keys
from recommendations.store.codec import (
    FAMILY_SOURCE,
    RECORD,
    VECTOR,
    Entry,
    decode_meta,
    split_cards,
    unpack,
    unpack_pairs,
)
from recommendations.store.connection import client, run_script
from recommendations.store.guards import AccountClosed, Hit


@dataclass(frozen=True)
class Impression:
    """An experiment's count of one served read: the variant's impressions go up by one and
    the reader joins its set of users, inside the read itself."""

    counts_key: str
    field: str
    users_key: str
    member: str


@dataclass(frozen=True)
class Page:
    """What one read found: the list that answered (its index in the asked-for chain, or
    None), its version and job metadata, and its first entries with their cards as stored
    (raw JSON). `hits` is the request count of the rate window when a Hit was given."""

    hits: int
    source: int | None
    version: int | None
    meta: dict
    entries: list[Entry]
    cards: list[bytes]
    item_missing: bool = False


@lru_cache(maxsize=1024)
def _family_args(prefix: str, family: str) -> tuple[str, str, str]:
    """A family's live pointer, meta template and list kind for read_page.lua (the same for
    every read under one prefix)."""
    zset = "1" if keys.base_family(family) in keys.SORTED_SET_FAMILIES else "0"
    return keys.live(family), keys.meta_template(family), zset


def read_page(
    chain: list[tuple[str, object]],
    *,
    want: int,
    stored: int,
    exclude: Iterable[int] = (),
    seen_of_user: int | None = None,
    require_card: int | None = None,
    hit: Hit | None = None,
    impression: Impression | None = None,
) -> Page:
    """One round trip: count the hit, check the item exists, take the first list of `chain`
    ((family, owner) pairs, in fallback order) that is published and not empty, and return
    its first `want` entries that are not excluded, not seen by the user and still have a
    card (deactivated items have none), with those cards; an experiment's `impression` is
    counted when a list is served. Raises AccountClosed when the hit's account was closed."""
    exclude = list(exclude)
    args: list[object] = [
        RECORD.itemsize,
        want,
        hit.key(time.time()) if hit else "",
        hit.window_seconds + 1 if hit else 0,
        keys.card(require_card) if require_card is not None else "",
        keys.seen(seen_of_user) if seen_of_user is not None else "",
        hit.revoked_key() if hit else "",
        keys.card_prefix(),
        keys.VERSION,
        *(
            (impression.counts_key, impression.field, impression.users_key, impression.member)
            if impression
            else ("", "", "", "")
        ),
        len(exclude),
        *exclude,
    ]
    prefix = settings.PICKS_REDIS_PREFIX
    for family, owner in chain:
        live, meta_template, zset = _family_args(prefix, family)
        args += [live, meta_template, keys.list_template(family, owner), zset, stored]
    reply = run_script("read_page.lua", args=args)
    hits, found = int(reply[0]), int(reply[1])
    if found == -2:
        raise AccountClosed(hit.account if hit else None)
    if found <= 0:
        return Page(hits, None, None, {}, [], [], item_missing=found < 0)
    _, _, version, raw_meta, picked, cards = reply
    family = chain[found - 1][0]
    if not cards:
        entries: list[Entry] = []
    elif keys.base_family(family) in keys.SORTED_SET_FAMILIES:
        entries = unpack_pairs(picked, source=FAMILY_SOURCE[family])
    else:
        entries = unpack(picked, limit=len(picked) // RECORD.itemsize)
    return Page(hits, found - 1, int(version), decode_meta(raw_meta), entries, split_cards(cards))


def read_many(
    family: str, owners: list[object], *, limit: int
) -> tuple[dict, dict[object, list[Entry]]]:
    """Several packed lists of one family (e.g. the similar lists of a few liked items), and
    what the live version's job recorded (its `version` and `built_at`)."""
    redis = client()
    version = redis.get(keys.live(family))
    if version is None:
        return {}, {}
    pipe = redis.pipeline(transaction=False)
    pipe.get(keys.meta(family, version.decode()))
    for owner in owners:
        pipe.get(keys.list_key(version.decode(), family, owner))
    meta, *blobs = pipe.execute()
    lists = {owner: unpack(blob, limit=limit) for owner, blob in zip(owners, blobs, strict=True)}
    return decode_meta(meta), lists


def read_vectors(
    kind: str, ids: list[int], *, family: str = keys.MF
) -> dict[int, npt.NDArray[np.float32]]:
    """MF embeddings of the live version ("user" or "item"), for the ids that have one."""
    redis = client()
    version = redis.get(keys.live(family))
    if version is None or not ids:
        return {}
    names = [keys.list_key(version.decode(), family, (kind, i)) for i in ids]
    return {
        i: np.frombuffer(raw, dtype=VECTOR)
        for i, raw in zip(ids, redis.mget(names), strict=True)
        if raw
    }
