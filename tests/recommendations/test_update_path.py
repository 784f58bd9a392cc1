"""The update path under late commits, concurrent publishers, absurd timestamps and a noisy
quality gate (issue: the update path made correct)."""

import threading

import pytest
from django.db import connections, transaction
from django.utils import timezone

from recommendations.models import Interaction, Order, OrderLine, UserProductInteraction
from recommendations.services.aggregation import update_interactions
from tests.factories import ItemFactory, UserFactory


def _in_a_late_transaction(write, *, written: threading.Event, release: threading.Event):
    """Run `write` in a transaction of another connection that commits only on `release`."""

    def body() -> None:
        try:
            with transaction.atomic():
                write()
                written.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=body)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_an_event_and_an_order_that_commit_after_a_run_are_aggregated_by_the_next_one_once():
    shopper, liked, bought = UserFactory(), ItemFactory(), ItemFactory()
    long_ago = timezone.now() - timezone.timedelta(days=2)

    def write() -> None:
        Interaction.objects.create(user=shopper, item=liked, kind="like", occurred_at=long_ago)
        order = Order.objects.create(invoice_no="late-1", customer=shopper, ordered_at=long_ago)
        OrderLine.objects.create(order=order, line_no=1, item=bought, quantity=1, unit_price=2)

    written, release = threading.Event(), threading.Event()
    late = _in_a_late_transaction(write, written=written, release=release)
    try:
        assert written.wait(30)
        assert update_interactions().events == 0  # not committed yet: invisible
    finally:
        release.set()
        late.join()
    update_interactions()
    update_interactions()
    update_interactions(full=False)
    scores = dict(UserProductInteraction.objects.values_list("product_id", "score"))
    assert scores == {liked.pk: 1.5, bought.pk: 4.0}
    update_interactions(full=True)
    assert dict(UserProductInteraction.objects.values_list("product_id", "score")) == scores


@pytest.mark.django_db
def test_a_run_with_nothing_new_writes_nothing_and_keeps_its_batch():
    Interaction.objects.create(
        user=UserFactory(), item=ItemFactory(), kind="view", occurred_at=timezone.now()
    )
    first = update_interactions()
    again = update_interactions()
    assert (first.events, again.events, again.rows_touched) == (1, 0, 0)
    assert again.batch == first.batch
