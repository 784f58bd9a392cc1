"""`publish_catalog`: item cards in Redis, so lists are served without touching PostgreSQL."""

import logging

from catalog.models import Item
from recommendations import store
from recommendations.services.progress import log_step

logger = logging.getLogger(__name__)


def item_card(item: Item) -> dict:
    """What a list shows of an item."""
    return {
        "id": item.pk,
        "sku": item.sku,
        "title": item.title,
        "price": str(item.price),
        "image_url": item.image.url if item.image else None,
        "category": item.category.slug if item.category_id else None,
        "brand": item.brand,
        "colour": item.colour,
        "sizes": item.sizes,
    }


def active_item_ids() -> set[int]:
    """Items that may be shown."""
    return set(Item.objects.filter(is_active=True).values_list("pk", flat=True))


def publish_catalog() -> int:
    """Write a card per active item and drop the cards of the others; how many were written."""
    items = Item.objects.filter(is_active=True).select_related("category").iterator(chunk_size=5000)
    written = store.write_cards(item_card(item) for item in items)
    stale = store.card_ids() - active_item_ids()
    store.delete_cards(stale)
    log_step("publish_catalog", "done", cards=written, removed=len(stale))
    return written


def refresh_item_card(item: Item) -> None:
    """Bring one item's card in step with the catalog at once (best effort)."""
    try:
        if item.is_active:
            store.write_cards([item_card(item)])
        else:
            store.delete_cards([item.pk])
    except Exception:  # the catalog change is stored; the next publish_catalog catches up
        logger.warning("could not refresh the card of item %s", item.pk, exc_info=True)
