from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from catalog.models import Item


@transaction.atomic
def item_create(*, image: UploadedFile | None = None, **fields: Any) -> Item:
    """Create an item; an image goes to the default storage under a safe name."""
    item = Item(**fields)
    if image is not None:
        item.image = image
    item.full_clean()
    item.save()
    return item


@transaction.atomic
def item_update(*, item: Item, image: UploadedFile | None = None, **fields: Any) -> Item:
    """Change the given fields of an item; a replaced image leaves storage once it commits."""
    for name, value in fields.items():
        setattr(item, name, value)
    replaced = item.image.name if image is not None and item.image else None
    if image is not None:
        item.image = image
    item.full_clean()
    item.save()
    if replaced and replaced != item.image.name:
        storage = item.image.storage
        transaction.on_commit(lambda: storage.delete(replaced))
    return item
