"""Read side: which lists to read for a request, fallbacks, and read-time filters.

Everything here reads Redis through `store`; nothing touches the database.
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

import numpy as np
from django.conf import settings
from scipy.special import expit

from recommendations import store


class UnknownItem(Exception):
    """The item is not in the catalog (or is deactivated)."""


class NoPrediction(Exception):
    """The user or the item has no MF embedding yet."""


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    size: str | None = None
    brand: str | None = None
    exclude: frozenset[int] = frozenset()

    def keep(self, card: dict) -> bool:
        """True when the item card passes every filter."""
        if card["id"] in self.exclude:
            return False
        if self.category and card.get("category") != self.category:
            return False
        if self.brand and (card.get("brand") or "").lower() != self.brand.lower():
            return False
        if self.size and self.size not in (card.get("sizes") or []):
            return False
        if self.min_price is not None or self.max_price is not None:
            try:
                price = Decimal(card.get("price") or "0")
            except InvalidOperation:
                return False
            if self.min_price is not None and price < self.min_price:
                return False
            if self.max_price is not None and price > self.max_price:
                return False
        return True


@dataclass(frozen=True)
class Result:
    card: dict
    score: float
    source: str
    because: int | None = None


@dataclass(frozen=True)
class RankedList:
    results: list[Result]
    source: str  # which list answered: "personal", "global", "similar", "trending", ...
    fallback: bool
    version: int | None
    built_at: str | None
    limit: int
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return len(self.results) >= self.limit


def _stored_length() -> int:
    return settings.PICKS_LIST_LENGTH


def _page(
    entries: list[store.Entry],
    *,
    filters: Filters,
    limit: int,
    because: dict[int, int] | None = None,
    source: str | None = None,
) -> list[Result]:
    """Entries with a card (active items only) that pass the filters, up to `limit`.

    Cards are read in chunks (twice the page first), so an unfiltered page reads few cards.
    """
    results: list[Result] = []
    chunk = max(2 * limit, 20)
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        cards = store.read_cards([e.item_id for e in part])
        for entry in part:
            card = cards.get(entry.item_id)
            if card is None or not filters.keep(card):
                continue
            origin = (because or {}).get(entry.item_id)
            results.append(Result(card, entry.score, source or entry.source, origin))
            if len(results) >= limit:
                return results
    return results


def _answer(
    ranked: store.Ranked,
    name: str,
    *,
    fallback: bool,
    filters: Filters,
    limit: int,
    exclude: frozenset[int] = frozenset(),
    source: str | None = None,
) -> RankedList:
    entries = [e for e in ranked.entries if e.item_id not in exclude]
    return RankedList(
        results=_page(entries, filters=filters, limit=limit, source=source),
        source=name,
        fallback=fallback,
        version=ranked.version,
        built_at=ranked.meta.get("built_at"),
        limit=limit,
    )


def trending(*, filters: Filters, limit: int) -> RankedList:
    """The time-decayed global list."""
    ranked = store.read_ranked(store.GLOBAL, store.GLOBAL_TRENDING, limit=_stored_length())
    return _answer(ranked, "trending", fallback=False, filters=filters, limit=limit)


def top_buys_for_user(*, user_id: int | None, filters: Filters, limit: int) -> RankedList:
    """The user's precomputed top buys, else (guests, cold start) the global top buys."""
    if user_id is not None:
        ranked = store.read_ranked(store.TOP_BUYS, user_id, limit=_stored_length())
        if ranked.entries:
            return _answer(ranked, "personal", fallback=False, filters=filters, limit=limit)
    ranked = store.read_ranked(store.GLOBAL, store.GLOBAL_TOP_BUYS, limit=_stored_length())
    return _answer(ranked, "global", fallback=user_id is not None, filters=filters, limit=limit)


def _trending_fallback(*, filters: Filters, limit: int, exclude: frozenset[int]) -> RankedList:
    """Trending, marked as a fallback, without the given items."""
    ranked = store.read_ranked(store.GLOBAL, store.GLOBAL_TRENDING, limit=_stored_length())
    return _answer(
        ranked,
        "trending",
        fallback=True,
        filters=filters,
        limit=limit,
        exclude=exclude,
        source="fallback",
    )


def _require_item(item_id: int) -> None:
    if not store.read_cards([item_id]):
        raise UnknownItem(item_id)


def bought_together_for_item(*, item_id: int, filters: Filters, limit: int) -> RankedList:
    """Rules by lift; else the item's similar items; else trending."""
    _require_item(item_id)
    exclude = frozenset({item_id})
    ranked = store.read_ranked(store.BOUGHT_TOGETHER, item_id, limit=_stored_length())
    if ranked.entries:
        return _answer(ranked, "bought_together", fallback=False, filters=filters, limit=limit)
    ranked = store.read_ranked(store.SIMILAR, item_id, limit=_stored_length())
    if ranked.entries:
        return _answer(
            ranked, "similar", fallback=True, filters=filters, limit=limit, source="fallback"
        )
    return _trending_fallback(filters=filters, limit=limit, exclude=exclude)


def similar_for_item(*, item_id: int, filters: Filters, limit: int) -> RankedList:
    """Blended collaborative and content neighbours; else trending."""
    _require_item(item_id)
    ranked = store.read_ranked(store.SIMILAR, item_id, limit=_stored_length())
    if ranked.entries:
        return _answer(ranked, "similar", fallback=False, filters=filters, limit=limit)
    return _trending_fallback(filters=filters, limit=limit, exclude=frozenset({item_id}))


def deck_for_user(*, user_id: int, filters: Filters, limit: int) -> RankedList:
    """The deck minus what the user swiped or bought since it was built; else trending."""
    ranked = store.read_ranked(store.DECK, user_id, limit=_stored_length(), seen_of_user=user_id)
    if ranked.entries:
        return _answer(
            ranked, "deck", fallback=False, filters=filters, limit=limit, exclude=ranked.seen
        )
    trend = store.read_ranked(
        store.GLOBAL, store.GLOBAL_TRENDING, limit=_stored_length(), seen_of_user=user_id
    )
    return _answer(
        trend,
        "trending",
        fallback=True,
        filters=filters,
        limit=limit,
        exclude=trend.seen,
        source="popular",
    )


def more_like_these(*, item_ids: list[int], filters: Filters, limit: int) -> RankedList:
    """The similar lists of the liked items merged (best similarity wins), each result
    explained by the liked item it came from; the liked items themselves left out."""
    meta, lists = store.read_many(store.SIMILAR, item_ids, limit=_stored_length())
    best: dict[int, tuple[float, int]] = {}
    for liked, entries in lists.items():
        for entry in entries:
            if entry.item_id not in best or entry.score > best[entry.item_id][0]:
                best[entry.item_id] = (entry.score, liked)
    liked_set = frozenset(item_ids)
    merged = sorted(
        (store.Entry(i, s, "similar") for i, (s, _) in best.items() if i not in liked_set),
        key=lambda e: -e.score,
    )
    because = {i: origin for i, (_, origin) in best.items()}
    if merged:
        results = _page(merged, filters=filters, limit=limit, because=because)
        return RankedList(
            results, "similar", False, meta.get("version"), meta.get("built_at"), limit
        )
    return _trending_fallback(filters=filters, limit=limit, exclude=liked_set)


@dataclass(frozen=True)
class Prediction:
    user_id: int
    item_id: int
    like_probability: float | None
    rating: float | None
    version: int | None


def predict(*, user_id: int, item_id: int) -> Prediction:
    """One dot product of the stored MF embeddings: a like-probability (or a rating)."""
    users = store.read_vectors("user", [user_id])
    items = store.read_vectors("item", [item_id])
    if user_id not in users or item_id not in items:
        raise NoPrediction(f"no embedding for user {user_id} or item {item_id}")
    meta = store.version_meta(store.MF)
    value = float(np.dot(users[user_id], items[item_id]))
    if meta.get("explicit"):
        return Prediction(user_id, item_id, None, value, meta.get("version"))
    return Prediction(user_id, item_id, float(expit(value)), None, meta.get("version"))
