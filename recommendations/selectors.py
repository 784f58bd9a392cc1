"""Read side: which lists to read for a request, fallbacks, and read-time filters.

Everything here reads Redis through `store`; nothing touches the database.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import numpy as np
import orjson
from django.conf import settings
from scipy.special import expit

from recommendations import store
from recommendations.models import Variant
from recommendations.services import experiments


class UnknownItem(Exception):
    """The item is not in the catalog (or is deactivated)."""


class NoPrediction(Exception):
    """The item has no MF embedding (no model is published, or the item is new to it)."""


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    size: str | None = None
    brand: str | None = None
    exclude: frozenset[int] = frozenset()

    @property
    def narrows(self) -> bool:
        """True when a filter needs the item cards' fields."""
        return bool(
            self.category
            or self.brand
            or self.size
            or self.min_price is not None
            or self.max_price is not None
        )

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


class Result(NamedTuple):
    """One entry of an answer (a tuple: cheap to make, twenty per request)."""

    card: orjson.Fragment  # the item card as published (JSON), rendered as it is
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
    hits: int = 0  # requests in the caller's rate window, when the read counted one
    experiment: str | None = None  # the running experiment that chose the list, if any
    variant: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return len(self.results) >= self.limit


@dataclass(frozen=True)
class Step:
    """One list of a fallback chain and how its answer is labelled."""

    family: str
    owner: object
    name: str
    fallback: bool = False
    source: str | None = None  # overrides each entry's stored source


def _stored_length() -> int:
    return settings.PICKS_LIST_LENGTH


def _results(
    pairs: Iterable[tuple[store.Entry, bytes]],
    *,
    filters: Filters,
    limit: int,
    source: str | None = None,
    because: dict[int, int] | None = None,
) -> list[Result]:
    """Entries (with their raw cards) that pass the filters, up to `limit`. Cards are parsed
    only when a filter needs their fields."""
    results: list[Result] = []
    narrows, exclude = filters.narrows, filters.exclude
    for entry, raw in pairs:
        if entry.item_id in exclude:
            continue
        if narrows and not filters.keep(orjson.loads(raw)):
            continue
        origin = because.get(entry.item_id) if because else entry.because
        results.append(Result(orjson.Fragment(raw), entry.score, source or entry.source, origin))
        if len(results) >= limit:
            break
    return results


def _arm_chain(chain: list[Step], arm: experiments.Arm, family: str) -> list[Step]:
    """The chain a variant reads: its own list first, then the default chain as fallbacks
    (`default`: the chain as it is)."""
    later = [replace(step, fallback=True) for step in chain]
    if arm.lists == Variant.Lists.POPULAR:
        owner = store.GLOBAL_TRENDING if family == store.DECK else store.GLOBAL_TOP_BUYS
        return [Step(store.GLOBAL, owner, "popular", False, "popular"), *later]
    if arm.lists == Variant.Lists.ALS and arm.family and chain[0].family == store.TOP_BUYS:
        return [Step(arm.family, chain[0].owner, chain[0].name), *later]
    return chain


def _read_chain(
    chain: list[Step],
    *,
    filters: Filters,
    limit: int,
    hit: store.Hit | None,
    seen_of_user: int | None = None,
    item_id: int | None = None,
    family: str | None = None,
    reader: str | None = None,
) -> RankedList:
    """The first published list of `chain`, read, filtered and labelled in one round trip.
    Without narrowing filters only `limit` cards are read; with them, every stored entry's.
    A `reader` (user or guest client) inside a running experiment of `family` reads its
    variant's chain, and the read counts the variant's impression."""
    running = experiments.running_for(family) if reader and family else None
    arm = impression = None
    if running is not None:
        arm = running.arm_of(reader)
        chain = _arm_chain(chain, arm, family)
        impression = running.impression(arm, reader)
    page = store.read_page(
        [(step.family, step.owner) for step in chain],
        want=_stored_length() if filters.narrows else limit,
        stored=_stored_length(),
        exclude=filters.exclude | ({item_id} if item_id is not None else set()),
        seen_of_user=seen_of_user,
        require_card=item_id,
        hit=hit,
        impression=impression,
    )
    if page.item_missing:
        raise UnknownItem(item_id)
    step = chain[page.source if page.source is not None else -1]
    return RankedList(
        results=_results(
            zip(page.entries, page.cards, strict=True),
            filters=filters,
            limit=limit,
            source=step.source,
        ),
        source=step.name,
        fallback=step.fallback,
        version=page.version,
        built_at=page.meta.get("built_at"),
        limit=limit,
        hits=page.hits,
        experiment=running.name if running else None,
        variant=arm.name if arm else None,
    )


_TRENDING_FALLBACK = Step(store.GLOBAL, store.GLOBAL_TRENDING, "trending", True, "fallback")


def trending(
    *, filters: Filters, limit: int, hit: store.Hit | None = None, reader: str | None = None
) -> RankedList:
    """The time-decayed global list."""
    chain = [Step(store.GLOBAL, store.GLOBAL_TRENDING, "trending")]
    return _read_chain(
        chain, filters=filters, limit=limit, hit=hit, family="trending", reader=reader
    )


def top_buys_for_user(
    *,
    user_id: int | None,
    filters: Filters,
    limit: int,
    hit: store.Hit | None = None,
    reader: str | None = None,
) -> RankedList:
    """The user's precomputed top buys, else (guests, cold start) the global top buys."""
    chain = [Step(store.GLOBAL, store.GLOBAL_TOP_BUYS, "global", fallback=user_id is not None)]
    if user_id is not None:
        chain.insert(0, Step(store.TOP_BUYS, user_id, "personal"))
    return _read_chain(
        chain, filters=filters, limit=limit, hit=hit, family=store.TOP_BUYS, reader=reader
    )


def bought_together_for_item(
    *,
    item_id: int,
    filters: Filters,
    limit: int,
    hit: store.Hit | None = None,
    reader: str | None = None,
) -> RankedList:
    """Rules by lift; else the item's similar items; else trending. UnknownItem when the item
    has no card."""
    chain = [
        Step(store.BOUGHT_TOGETHER, item_id, "bought_together"),
        Step(store.SIMILAR, item_id, "similar", True, "fallback"),
        _TRENDING_FALLBACK,
    ]
    return _read_chain(
        chain, filters=filters, limit=limit, hit=hit, item_id=item_id,
        family=store.BOUGHT_TOGETHER, reader=reader,
    )  # fmt: skip


def similar_for_item(
    *,
    item_id: int,
    filters: Filters,
    limit: int,
    hit: store.Hit | None = None,
    reader: str | None = None,
) -> RankedList:
    """Blended collaborative and content neighbours; else trending."""
    chain = [Step(store.SIMILAR, item_id, "similar"), _TRENDING_FALLBACK]
    return _read_chain(
        chain, filters=filters, limit=limit, hit=hit, item_id=item_id,
        family=store.SIMILAR, reader=reader,
    )  # fmt: skip


def deck_for_user(
    *,
    user_id: int,
    filters: Filters,
    limit: int,
    hit: store.Hit | None = None,
    reader: str | None = None,
) -> RankedList:
    """The deck minus what the user swiped or bought since it was built (a refresher rewrites
    it after each swipe); a user without one gets the onboarding deck; else trending."""
    chain = [
        Step(store.DECK, user_id, "deck"),
        Step(store.DECK, store.ONBOARDING, "onboarding", True),
        Step(store.GLOBAL, store.GLOBAL_TRENDING, "trending", True, "popular"),
    ]
    return _read_chain(
        chain, filters=filters, limit=limit, hit=hit, seen_of_user=user_id,
        family=store.DECK, reader=reader,
    )  # fmt: skip


def _with_cards(entries: list[store.Entry], chunk: int) -> Iterator[tuple[store.Entry, bytes]]:
    """Entries that still have a card, with it; cards read a chunk at a time, lazily."""
    for start in range(0, len(entries), chunk):
        part = entries[start : start + chunk]
        cards = store.read_raw_cards([e.item_id for e in part])
        yield from ((e, cards[e.item_id]) for e in part if e.item_id in cards)


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
        results = _results(
            _with_cards(merged, max(2 * limit, 20)), filters=filters, limit=limit, because=because
        )
        return RankedList(
            results, "similar", False, meta.get("version"), meta.get("built_at"), limit
        )
    return _read_chain(
        [_TRENDING_FALLBACK],
        filters=replace(filters, exclude=filters.exclude | liked_set),
        limit=limit,
        hit=None,
    )


@dataclass(frozen=True)
class Prediction:
    user_id: int
    item_id: int
    like_probability: float | None
    rating: float | None
    version: int | None
    source: str  # "personal": the user's vector (batch or folded in); "item_prior": no vector


def predict(*, user_id: int, item_id: int) -> Prediction:
    """One dot product of the stored MF embeddings: a like-probability (or a rating). A user
    without a vector (no swipe yet) gets the item's prior: its bias and the global one."""
    users = store.read_vectors("user", [user_id])
    items = store.read_vectors("item", [item_id])
    if item_id not in items:
        raise NoPrediction(f"no embedding for item {item_id}")
    meta = store.version_meta(store.MF)
    if user_id in users:
        value, source = float(np.dot(users[user_id], items[item_id])), "personal"
    else:
        value, source = float(items[item_id][-1]), "item_prior"  # item = [v, 1, b_i + b]
    version = meta.get("version")
    if meta.get("explicit"):
        return Prediction(user_id, item_id, None, value, version, source)
    return Prediction(user_id, item_id, float(expit(value)), None, version, source)
