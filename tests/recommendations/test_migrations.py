"""Migrations that change data, run forward on rows written before them."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from recommendations.models import Interaction, Order, OrderLine, UserProductInteraction
from tests.factories import ItemFactory, UserFactory

BEFORE = [("recommendations", "0003_upi_without_db_foreign_keys")]


def migrate(targets: list[tuple[str, str]] | None = None) -> None:
    """To `targets`, or to the latest migrations."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_scores_aggregated_before_the_bought_mark_learn_which_pairs_were_bought():
    migrate(BEFORE)
    try:
        shopper, items = UserFactory(), ItemFactory.create_batch(5)
        now = timezone.now()
        Interaction.objects.create(user=shopper, item=items[0], kind="purchase", occurred_at=now)
        Interaction.objects.create(user=shopper, item=items[1], kind="like", occurred_at=now)
        for invoice, item, quantity, cancelled in (
            ("1", items[2], 1, False),  # bought
            ("C1", items[2], -1, False),  # and returned: still bought
            ("2", items[3], 2, True),  # a cancelled order: not bought
            ("3", items[4], 0, False),  # a line of nothing: not bought
        ):
            order = Order.objects.create(
                invoice_no=invoice, customer=shopper, ordered_at=now, is_cancelled=cancelled
            )
            OrderLine.objects.create(
                order=order, line_no=1, item=item, quantity=quantity, unit_price=1
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
