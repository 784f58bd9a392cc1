"""Write side of events and orders: stored once each, then the read side is told (best effort)."""

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db import IntegrityError, transaction

from accounts.models import User
from catalog.models import Item
from recommendations import store
from recommendations.models import Interaction, Order, OrderLine
from recommendations.services import experiments

logger = logging.getLogger(__name__)

DECK_EXCLUDING_KINDS = frozenset(
    {Interaction.Kind.LIKE, Interaction.Kind.DISLIKE, Interaction.Kind.PURCHASE}
)


@dataclass(frozen=True)
class EventIn:
    user_id: int
    item_id: int
    kind: str
    occurred_at: datetime
    value: float | None = None
    event_id: UUID | None = None


@dataclass(frozen=True)
class Logged:
    stored: int
    duplicates: list[int]  # indices of events whose id that user had sent before (or twice)


def log_interactions(*, events: list[EventIn]) -> Logged:
    """Store the events; an event id is the sending user's own, and one the user sent before
    (or twice in this list) is stored once and reported as a duplicate."""
    ids = {(e.user_id, e.event_id) for e in events if e.event_id is not None}
    known: set[tuple[int, UUID]] = set()
    if ids:
        known = set(
            Interaction.objects.filter(
                user_id__in={u for u, _ in ids}, event_id__in={i for _, i in ids}
            ).values_list("user_id", "event_id")
        )
    rows, duplicates = [], []
    for index, e in enumerate(events):
        key = (e.user_id, e.event_id)
        if e.event_id is not None and key in known:
            duplicates.append(index)
            continue
        known.add(key)
        rows.append(
            Interaction(
                user_id=e.user_id, item_id=e.item_id, kind=e.kind,
                occurred_at=e.occurred_at, value=e.value, event_id=e.event_id,
            )
        )  # fmt: skip
    with transaction.atomic():
        # ON CONFLICT DO NOTHING on (user, event_id): a concurrent duplicate is stored once.
        Interaction.objects.bulk_create(rows, ignore_conflicts=True, batch_size=5000)
        transaction.on_commit(lambda: remember_seen(events=events))
        stored = [(row.user_id, row.kind) for row in rows]
        transaction.on_commit(lambda: count_outcomes(stored))
    return Logged(len(rows), duplicates)


def count_outcomes(events: list[tuple[int, str]]) -> None:
    """Count likes, carts and purchases for the experiment variants their users are in (after
    the commit); Redis being down loses no event, only the experiment's count of it."""
    try:
        experiments.record_outcomes(events)
    except Exception:
        logger.warning("could not count experiment outcomes", exc_info=True)


def remember_seen(*, events: list[EventIn]) -> None:
    """Tell the deck which items are now swiped or bought, and the refreshers who acted (after
    the commit); Redis being down loses no event and no refresh (PostgreSQL queues both)."""
    seen: dict[int, set[int]] = {}
    for e in events:
        if e.kind in DECK_EXCLUDING_KINDS:
            seen.setdefault(e.user_id, set()).add(e.item_id)
    try:
        if seen:
            store.add_seen_many(seen=seen)
        store.notify(e.user_id for e in events)
    except Exception:  # the event is stored; only the live state is behind
        logger.warning("could not record seen items or notify refreshers", exc_info=True)


@dataclass(frozen=True)
class OrderLineIn:
    item_id: int
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class OrderResult:
    order: Order
    created: bool


def customer_for_external_id(*, external_id: str) -> User:
    """The user carrying the shop's customer id, created (without a password) on first use."""
    user, _ = User.objects.get_or_create(
        external_id=external_id,
        defaults={"username": customer_username(external_id), "password": "!"},
    )
    return user


def customer_username(external_id: str) -> str:
    """A username no registration can take (':' is outside the allowed characters)."""
    return f"shop:{external_id}"


def create_order(
    *,
    invoice_no: str,
    customer: User | None,
    ordered_at: datetime,
    lines: list[OrderLineIn],
    country: str = "",
) -> OrderResult:
    """Store an order once; the same invoice sent again returns the stored one."""
    try:
        with transaction.atomic():
            order = Order.objects.create(
                invoice_no=invoice_no,
                customer=customer,
                country=country,
                ordered_at=ordered_at,
                is_cancelled=invoice_no.startswith("C"),
            )
            OrderLine.objects.bulk_create(
                OrderLine(
                    order=order,
                    line_no=n,
                    item_id=line.item_id,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                )
                for n, line in enumerate(lines, start=1)
            )
    except IntegrityError:
        return OrderResult(order=Order.objects.get(invoice_no=invoice_no), created=False)
    if customer is not None and not order.is_cancelled:
        events = [
            EventIn(customer.pk, line.item_id, Interaction.Kind.PURCHASE, ordered_at)
            for line in lines
            if line.quantity > 0
        ]
        remember_seen(events=events)
        count_outcomes([(e.user_id, e.kind) for e in events])
    return OrderResult(order=order, created=True)


def existing_item_ids(item_ids: set[int]) -> set[int]:
    """The subset of ids that name items in the catalog."""
    return set(Item.objects.filter(pk__in=item_ids).values_list("pk", flat=True))


def existing_user_ids(user_ids: set[int]) -> set[int]:
    """The subset of ids that name users."""
    return set(User.objects.filter(pk__in=user_ids).values_list("pk", flat=True))
