"""Migrations that change data, run forward on rows written before them."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from recommendations.models import (
    PendingInteraction,
    PendingOrderLine,
    UserProductInteraction,
)
from recommendations.services.aggregation import update_interactions
from tests.factories import ItemFactory, UserFactory

BEFORE = [("recommendations", "0003_upi_without_db_foreign_keys")]
BEFORE_MARKS = [("recommendations", "0004_score_snapshots")]


def migrate(targets: list[tuple[str, str]] | None = None):
    """To `targets`, or to the latest migrations; the models as they were there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_scores_aggregated_before_the_bought_mark_learn_which_pairs_were_bought():
    old = migrate(BEFORE)
    Interaction, Order, OrderLine = (
        old.get_model("recommendations", name) for name in ("Interaction", "Order", "OrderLine")
    )
    try:
        shopper, items = UserFactory(), ItemFactory.create_batch(5)
        now = timezone.now()
        Interaction.objects.create(
            user_id=shopper.pk, item_id=items[0].pk, kind="purchase", occurred_at=now
        )
        Interaction.objects.create(
            user_id=shopper.pk, item_id=items[1].pk, kind="like", occurred_at=now
        )
        for invoice, item, quantity, cancelled in (
            ("1", items[2], 1, False),  # bought
            ("C1", items[2], -1, False),  # and returned: still bought
            ("2", items[3], 2, True),  # a cancelled order: not bought
            ("3", items[4], 0, False),  # a line of nothing: not bought
        ):
            order = Order.objects.create(
                invoice_no=invoice, customer_id=shopper.pk, ordered_at=now, is_cancelled=cancelled
            )
            OrderLine.objects.create(
                order=order, line_no=1, item_id=item.pk, quantity=quantity, unit_price=1
            )
        with connection.cursor() as cursor:  # the table as 0003 has it: no bought column
            table = connection.introspection.get_table_description(
                cursor, "user_product_interactions"
            )
            assert "bought" not in {column.name for column in table}
            for item in items:
                cursor.execute(
                    "INSERT INTO user_product_interactions "
                    "(user_id, product_id, score, last_updated_at) VALUES (%s, %s, 1, %s)",
                    [shopper.pk, item.pk, now],
                )
    finally:
        migrate()  # through 0004_score_snapshots, and back to where the suite expects
    bought = dict(UserProductInteraction.objects.values_list("product_id", "bought"))
    assert bought == {
        items[0].pk: True,
        items[1].pk: False,
        items[2].pk: True,
        items[3].pk: False,
        items[4].pk: False,
    }


@pytest.mark.django_db(transaction=True)
def test_rows_the_old_watermark_had_passed_are_done_and_later_ones_wait_in_the_queues():
    old = migrate(BEFORE_MARKS)
    Interaction_, Order, OrderLine_, BatchMetadata = (
        old.get_model("recommendations", name)
        for name in ("Interaction", "Order", "OrderLine", "BatchMetadata")
    )
    try:
        shopper, item = UserFactory(), ItemFactory()
        now = timezone.now()
        events = [
            Interaction_.objects.create(
                user_id=shopper.pk, item_id=item.pk, kind="like", occurred_at=now
            )
            for _ in range(2)
        ]
        order = Order.objects.create(invoice_no="M1", customer_id=shopper.pk, ordered_at=now)
        OrderLine_.objects.create(order=order, line_no=1, item_id=item.pk, quantity=1, unit_price=1)
        Interaction_.objects.filter(pk=events[0].pk).update(received_at=now - timedelta(hours=1))
        Order.objects.filter(pk=order.pk).update(received_at=now - timedelta(hours=1))
        BatchMetadata.objects.create(
            job_name="update_interactions", watermark=now - timedelta(minutes=30), batch=7
        )
    finally:
        migrate()
    assert list(PendingInteraction.objects.values_list("pk", flat=True)) == [events[1].pk]
    assert not PendingOrderLine.objects.exists()
    assert update_interactions().events == 1  # the one the old watermark had not passed
