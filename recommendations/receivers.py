"""Keep Redis in step with catalog writes made anywhere: the API, the admin, a shell's
`item.save()` or `item.delete()`. Cards change once the write commits."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from catalog.models import Category, Item
from recommendations import store
from recommendations.services.publish import item_card, logger, refresh_item_card


@receiver(post_save, sender=Item, dispatch_uid="picks_item_card_on_save")
def item_saved(sender: type, instance: Item, **kwargs: object) -> None:
    transaction.on_commit(lambda: refresh_item_card(instance))


@receiver(post_delete, sender=Item, dispatch_uid="picks_item_card_on_delete")
def item_deleted(sender: type, instance: Item, **kwargs: object) -> None:
    item_id = instance.pk

    def drop() -> None:
        try:
            store.delete_cards([item_id])
        except Exception:  # the row is gone; the next publish_catalog drops the card
            logger.warning("could not drop the card of item %s", item_id, exc_info=True)

    transaction.on_commit(drop)


@receiver(post_save, sender=Category, dispatch_uid="picks_category_cards_on_save")
def category_saved(sender: type, instance: Category, **kwargs: object) -> None:
    """A renamed slug shows in its items' cards."""

    def refresh() -> None:
        items = Item.objects.filter(category=instance, is_active=True).select_related("category")
        try:
            store.write_cards(item_card(item) for item in items.iterator(chunk_size=2000))
        except Exception:  # the category is stored; the next publish_catalog catches up
            logger.warning("could not refresh the cards of category %s", instance.pk, exc_info=True)

    transaction.on_commit(refresh)
