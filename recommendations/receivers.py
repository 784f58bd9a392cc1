"""Keep Redis in step with writes made anywhere (the API, the admin, a shell): catalog saves
and deletes change the item cards, and a closed account is marked for the Redis-only list
endpoints, which never read the user table; a deleted experiment stops being served and its
counters go. Each change follows the write's commit."""

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from redis.exceptions import RedisError

from accounts.models import User
from catalog.models import Category, Item
from recommendations import store
from recommendations.models import Experiment
from recommendations.services import experiments
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


def _close(user_id: int) -> None:
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
    try:
        store.close_account(user_id, seconds=int(lifetime) + 60)
    except RedisError:  # best effort: a refresh reads is_active from the database anyway
        logger.warning("could not mark account %s closed in Redis", user_id)


@receiver(post_delete, sender=User, dispatch_uid="picks_close_deleted_account")
def account_deleted(sender: type, instance: User, **kwargs: object) -> None:
    pk = instance.pk  # Django clears it once the delete is done
    transaction.on_commit(lambda: _close(pk))


@receiver(post_save, sender=User, dispatch_uid="picks_close_deactivated_account")
def account_saved(sender: type, instance: User, **kwargs: object) -> None:
    if not instance.is_active:
        pk = instance.pk
        transaction.on_commit(lambda: _close(pk))


@receiver(post_delete, sender=Experiment, dispatch_uid="picks_forget_deleted_experiment")
def experiment_deleted(sender: type, instance: Experiment, **kwargs: object) -> None:
    pk, running = instance.pk, instance.status == Experiment.Status.RUNNING

    def forget() -> None:
        try:
            experiments.forget(pk, was_running=running)
        except RedisError:  # its counters stay until the prefix is cleared; reads re-check
            logger.warning("could not forget deleted experiment %s in Redis", pk, exc_info=True)

    transaction.on_commit(forget)
