"""Closing an account reaches the Redis-only endpoints, which never read the user table."""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from redis.exceptions import RedisError

from accounts.models import User
from recommendations import store

logger = logging.getLogger(__name__)


def _close(user_id: int) -> None:
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
    try:
        store.close_account(user_id, seconds=int(lifetime) + 60)
    except RedisError:  # best effort, like every Redis side effect of a write
        logger.warning("could not mark account %s closed in Redis", user_id)


def account_deleted(sender: type, instance: User, **kwargs: object) -> None:
    pk = instance.pk  # Django clears it once the delete is done
    transaction.on_commit(lambda: _close(pk))


def account_saved(sender: type, instance: User, **kwargs: object) -> None:
    if not instance.is_active:
        pk = instance.pk
        transaction.on_commit(lambda: _close(pk))


post_delete.connect(account_deleted, sender=User, dispatch_uid="close-deleted-account")
post_save.connect(account_saved, sender=User, dispatch_uid="close-deactivated-account")
