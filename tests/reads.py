"""Tests read published lists the way the API does: through the store's one page read (only
entries whose item still has a card come back)."""

import orjson
from django.conf import settings

from recommendations import store


def read_list(
    family: str, owner: object, *, limit: int, seen_of_user: int | None = None
) -> list[store.Entry]:
    """The live version of one list, best first; empty when there is none."""
    stored = max(limit, settings.PICKS_LIST_LENGTH) * 2
    page = store.read_page([(family, owner)], want=limit, stored=stored, seen_of_user=seen_of_user)
    return page.entries


def read_top_buys(*, user_id: int, limit: int) -> list[store.Entry]:
    return read_list(store.TOP_BUYS, user_id, limit=limit)


def read_global(name: str, *, limit: int) -> list[store.Entry]:
    return read_list(store.GLOBAL, name, limit=limit)


def read_bought_together(*, item_id: int, limit: int) -> list[store.Entry]:
    return read_list(store.BOUGHT_TOGETHER, item_id, limit=limit)


def read_similar(*, item_id: int, limit: int) -> list[store.Entry]:
    return read_list(store.SIMILAR, item_id, limit=limit)


def read_deck(*, user_id: int, limit: int) -> list[store.Entry]:
    """The deck as served: without what the user swiped or bought since it was built."""
    return read_list(store.DECK, user_id, limit=limit, seen_of_user=user_id)


def read_cards(item_ids: list[int]) -> dict[int, dict]:
    return {i: orjson.loads(raw) for i, raw in store.read_raw_cards(item_ids).items()}


def seen_items(*, user_id: int) -> set[int]:
    return {int(i) for i in store.client().smembers(store.keys.seen(user_id))}


def write_cards_for(item_ids: list[int]) -> None:
    """Minimal cards, for tests that publish lists of made-up items."""
    store.write_cards(
        {"id": i, "sku": f"T{i}", "title": f"item {i}", "price": "1.00", "image_url": None,
         "category": None, "brand": "", "colour": "", "sizes": []}
        for i in item_ids
    )  # fmt: skip
