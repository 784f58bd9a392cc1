"""Current state beside the versioned lists: item cards (a catalog change shows at once) and
the items each user swiped or bought (never in their deck again)."""

from collections.abc import Iterable

from recommendations.store import keys
from recommendations.store.codec import encode_json
from recommendations.store.connection import client


def write_cards(cards: Iterable[dict], *, batch_keys: int = 5000) -> int:
    """Store item cards (each has an `id`); how many were written."""
    pipe, written = client().pipeline(transaction=False), 0
    for card in cards:
        pipe.set(keys.card(card["id"]), encode_json(card))
        written += 1
        if written % batch_keys == 0:
            pipe.execute()
    pipe.execute()
    return written


def delete_cards(item_ids: Iterable[int]) -> None:
    """Remove cards of items that must no longer be shown."""
    names = [keys.card(i) for i in item_ids]
    for start in range(0, len(names), 5000):
        client().unlink(*names[start : start + 5000])


def card_ids() -> set[int]:
    """Ids of every item with a card."""
    prefix = keys.card_prefix()
    return {
        int(k.decode()[len(prefix) :]) for k in client().scan_iter(match=prefix + "*", count=5000)
    }


def read_raw_cards(item_ids: list[int]) -> dict[int, bytes]:
    """Cards of the given items that have one, as stored (JSON)."""
    if not item_ids:
        return {}
    raw = client().mget([keys.card(i) for i in item_ids])
    return {i: r for i, r in zip(item_ids, raw, strict=True) if r is not None}


def add_seen_many(*, seen: dict[int, set[int]]) -> None:
    """Record, for many users at once, items they swiped or bought (one pipeline)."""
    pipe = client().pipeline(transaction=False)
    for user_id, item_ids in seen.items():
        if item_ids:
            pipe.sadd(keys.seen(user_id), *item_ids)
    pipe.execute()
