"""`generate_demo_data`: the synthetic shop of `ml.synthetic` written into the database."""

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import numpy as np
import numpy.typing as npt
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from catalog.models import Category, Item, item_image_path
from catalog.pictures import draw_item_picture
from recommendations.ml.synthetic import (
    BRANDS,
    CATEGORIES,
    CATEGORY_NOUNS,
    CATEGORY_SIZES,
    COLOURS,
    KINDS,
    SIZES,
    ShopSpec,
    SyntheticShop,
    make_shop,
)
from recommendations.models import Interaction, Order, OrderLine, PendingRefresh
from recommendations.services.bulk import insert_rows
from recommendations.services.progress import log_step
from recommendations.services.tables import EVENTS, LINES, ORDERS

DEMO_SKU_PREFIX = "DEMO-"
MATERIALS = ("cotton", "linen", "wool", "denim", "leather", "silk", "canvas", "suede")
BATCH = 5000
EVENT_CHUNK = 1_000_000  # events turned into Python rows at a time


class DemoDataExists(Exception):
    """The demo shop is already in the database."""


@dataclass(frozen=True)
class DemoShop:
    """The planted shop and the database ids of its users and items (index -> pk)."""

    shop: SyntheticShop
    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]

    def items_of_group(self, group: int) -> set[int]:
        return set(self.item_ids[self.shop.item_group == group].tolist())

    def group_of_user(self, user_id: int) -> int:
        return int(self.shop.user_group[np.flatnonzero(self.user_ids == user_id)[0]])


def _items(shop: SyntheticShop, rng: np.random.Generator) -> list[Item]:
    categories = {
        name: Category.objects.get_or_create(name=name, defaults={"slug": slugify(name)})[0]
        for name in CATEGORIES
    }
    items = []
    for i in range(shop.spec.items):
        category = CATEGORIES[shop.item_category[i]]
        brand, colour = BRANDS[shop.item_brand[i]], COLOURS[shop.item_colour[i]]
        material = MATERIALS[rng.integers(len(MATERIALS))]
        noun = CATEGORY_NOUNS[shop.item_category[i]]
        items.append(
            Item(
                sku=f"{DEMO_SKU_PREFIX}{i:06d}",
                title=f"{brand} {colour} {material} {noun}",
                description=f"A {colour} {noun} in {material} by {brand}.",
                category=categories[category],
                brand=brand,
                colour=colour,
                price=Decimal(str(shop.item_price[i])),
                sizes=list(SIZES[CATEGORY_SIZES[shop.item_category[i]]]),
                attributes={"material": material},
            )
        )
    return Item.objects.bulk_create(items, batch_size=BATCH)


def _users(shop: SyntheticShop) -> list[User]:
    users = [
        User(username=f"demo-{i}", external_id=f"demo-{i}", password="!")
        for i in range(shop.spec.users)
    ]
    return User.objects.bulk_create(users, batch_size=BATCH)


def _interactions(shop: SyntheticShop, user_ids: npt.NDArray, item_ids: npt.NDArray) -> None:
    now = timezone.now()
    kinds = np.array(KINDS, dtype=object)

    def rows(start: int, stop: int) -> Iterator[tuple]:
        """One chunk's rows: Python objects for a million events at a time, not for all."""
        ages = shop.event_age_seconds[start:stop].tolist()
        return zip(
            user_ids[shop.event_user[start:stop]].tolist(),
            item_ids[shop.event_item[start:stop]].tolist(),
            kinds[shop.event_kind[start:stop]].tolist(),
            [now - timedelta(seconds=age) for age in ages],
            itertools.repeat(now),
        )

    total = len(shop.event_user)
    insert_rows(
        Interaction,
        ["user_id", "item_id", "kind", "occurred_at", "received_at"],
        itertools.chain.from_iterable(
            rows(start, start + EVENT_CHUNK) for start in range(0, total, EVENT_CHUNK)
        ),
    )


def _orders(shop: SyntheticShop, user_ids: npt.NDArray, item_ids: npt.NDArray) -> None:
    now = timezone.now()
    orders = Order.objects.bulk_create(
        (
            Order(
                invoice_no=f"{DEMO_SKU_PREFIX}{n:07d}",
                customer_id=int(user_ids[u]),
                country="Demo",
                ordered_at=now - timedelta(seconds=int(age)),
            )
            for n, (u, age) in enumerate(zip(shop.order_user, shop.order_age_seconds, strict=True))
        ),
        batch_size=BATCH,
    )
    order_ids = np.array([o.pk for o in orders])
    line_no = np.ones(len(shop.line_order), dtype=np.int64)
    starts = np.r_[True, shop.line_order[1:] != shop.line_order[:-1]]
    for n in range(1, len(line_no)):
        line_no[n] = 1 if starts[n] else line_no[n - 1] + 1
    OrderLine.objects.bulk_create(
        (
            OrderLine(
                order_id=int(order_ids[o]),
                line_no=int(n),
                item_id=int(item_ids[i]),
                quantity=int(q),
                unit_price=Decimal(str(shop.item_price[i])),
            )
            for o, n, i, q in zip(
                shop.line_order, line_no, shop.line_item, shop.line_quantity, strict=True
            )
        ),
        batch_size=BATCH,
    )


def _pictures(items: list[Item]) -> None:
    """A drawn picture per item, stored through the default storage like an uploaded image
    (the local media folder, or S3); one drawing per (category, colour, brand)."""
    drawn: dict[tuple[str, str, str], bytes] = {}
    for item in items:
        look = (item.category.name, item.colour, item.brand)
        if look not in drawn:
            drawn[look] = draw_item_picture(category=look[0], colour=look[1], brand=look[2])
        item.image.name = default_storage.save(
            item_image_path(item, "picture.png"), ContentFile(drawn[look])
        )
    Item.objects.bulk_update(items, ["image"], batch_size=BATCH)


@transaction.atomic
def _analyze() -> None:
    """Fresh planner statistics after the bulk load: without them PostgreSQL guesses that a
    user has thousands of events and walks the whole time index to find one user's last few
    (seconds instead of a millisecond), until autovacuum gets round to the table."""
    with connection.cursor() as cursor:
        for table in (User._meta.db_table, Item._meta.db_table, EVENTS, ORDERS, LINES):
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")


def generate_demo_data(*, spec: ShopSpec, pictures: bool = False) -> DemoShop:
    """Write the planted shop (with a drawn picture per item if `pictures`); refuses to write
    it twice."""
    if Item.objects.filter(sku__startswith=DEMO_SKU_PREFIX).exists():
        raise DemoDataExists("the demo shop is already loaded")
    shop = make_shop(spec)
    rng = np.random.default_rng(spec.seed + 1)
    items = _items(shop, rng)
    if pictures:
        _pictures(items)
    item_ids = np.array([item.pk for item in items])
    user_ids = np.array([user.pk for user in _users(shop)])
    log_step("generate_demo_data", "catalog", items=len(item_ids), users=len(user_ids))
    _interactions(shop, user_ids, item_ids)
    log_step("generate_demo_data", "events", events=spec.events)
    _orders(shop, user_ids, item_ids)
    log_step("generate_demo_data", "orders", lines=len(shop.line_item))
    # The demo's history is for the batch to learn; the refresher is for what users do next.
    for start in range(0, len(user_ids), BATCH):
        PendingRefresh.objects.filter(user_id__in=user_ids[start : start + BATCH].tolist()).delete()
    _analyze()
    return DemoShop(shop=shop, user_ids=user_ids, item_ids=item_ids)
