"""Training reads the scores from a stored snapshot plus the rows changed since, and only
when that adds up to the table; otherwise it reads the table whole."""

import logging

import pytest
from django.db.models import Q
from django.utils import timezone

from recommendations import artifacts
from recommendations.models import Interaction, ScoreSnapshot, UserProductInteraction
from recommendations.services.aggregation import update_interactions
from recommendations.services.scores import KIND, current_scores
from tests.factories import ItemFactory, UserFactory

pytestmark = pytest.mark.django_db


def table() -> list[tuple[int, int, float, bool]]:
    """The rows with a positive score or a purchase, as the database has them now."""
    rows = UserProductInteraction.objects.filter(Q(score__gt=0) | Q(bought=True))
    return sorted(rows.values_list("user_id", "product_id", "score", "bought"))


def read(caplog) -> tuple[list[tuple[int, int, float, bool]], str]:
    """What training reads, and how it was read (the step logged)."""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="picks.jobs"):
        rows = current_scores()
    ways = ("read whole", "snapshot and changes")
    steps = [m.split("step=")[1] for m in caplog.messages if m.startswith("job=scores")]
    (how,) = [way for step in steps for way in ways if step.startswith(f"{way} rows=")]
    got = zip(
        rows.user_ids.tolist(),
        rows.item_ids.tolist(),
        rows.scores.tolist(),
        rows.bought.tolist(),
        strict=True,
    )
    return sorted(got), how


def event(user, item, kind: str) -> None:
    Interaction.objects.create(user=user, item=item, kind=kind, occurred_at=timezone.now())


@pytest.fixture
def shop():
    users, items = UserFactory.create_batch(3), ItemFactory.create_batch(4)
    for user in users:
        for item in items[:3]:
            event(user, item, "like")
    update_interactions()
    return users, items


def test_the_second_read_takes_the_snapshot_and_only_the_changed_rows(shop, caplog):
    users, items = shop
    first, how = read(caplog)
    assert how == "read whole"
    assert first == table()
    assert len(first) == 9
    name = ScoreSnapshot.objects.get().artifact_name

    assert read(caplog) == (first, "snapshot and changes")  # nothing changed: nothing stored again
    assert ScoreSnapshot.objects.get().artifact_name == name

    event(users[0], items[0], "purchase")  # a pair's score changes
    event(users[1], items[3], "cart")  # a new pair
    event(users[2], items[1], "dislike")  # a pair falls below zero
    event(users[2], items[1], "dislike")
    update_interactions()
    second, how = read(caplog)
    assert how == "snapshot and changes"
    assert second == table()
    assert (users[1].pk, items[3].pk, 2.0, False) in second
    assert (users[0].pk, items[0].pk, 5.5, True) in second
    assert not any(u == users[2].pk and i == items[1].pk for u, i, _, _ in second)
    assert ScoreSnapshot.objects.get().artifact_name != name
    assert artifacts.stored(KIND) == [ScoreSnapshot.objects.get().artifact_name]


def test_a_deleted_users_pairs_leave_with_them(shop, caplog):
    users, items = shop
    read(caplog)
    event(users[1], items[3], "like")  # a new pair hides nothing: the counts must still match
    update_interactions()
    users[0].delete()
    rows, how = read(caplog)
    assert how == "read whole"
    assert rows == table()
    assert not any(u == users[0].pk for u, _, _, _ in rows)


def test_a_full_rebuild_is_read_right(shop, caplog):
    users, _items = shop
    read(caplog)
    Interaction.objects.filter(user=users[2]).delete()
    update_interactions(full=True)
    rows, _ = read(caplog)
    assert rows == table()
    assert len(rows) == 6


def test_a_snapshot_the_database_does_not_name_or_a_damaged_one_is_not_used(shop, caplog):
    read(caplog)
    snapshot = ScoreSnapshot.objects.get()
    ScoreSnapshot.objects.all().delete()  # e.g. a database restored from an older backup
    assert read(caplog) == (table(), "read whole")
    snapshot = ScoreSnapshot.objects.get()
    artifacts.prune(KIND, keep=set())  # the file is gone
    assert read(caplog) == (table(), "read whole")
    damaged = artifacts.save_bytes(kind=KIND, data=b"PK\x03\x04 not a snapshot", suffix="npz")
    ScoreSnapshot.objects.update(artifact_name=damaged)
    assert read(caplog) == (table(), "read whole")
    assert ScoreSnapshot.objects.get().artifact_name not in (damaged, snapshot.artifact_name)


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_reads_are_the_same(caplog):
    user, items = UserFactory(), ItemFactory.create_batch(3)
    for item in items:
        event(user, item, "view")
    update_interactions()
    assert read(caplog) == (table(), "read whole")
    event(user, items[0], "like")
    update_interactions()
    assert read(caplog) == (table(), "snapshot and changes")


def test_a_bought_pair_stays_marked_after_a_return_or_a_dislike(shop, service_client, caplog):
    users, items = shop
    read(caplog)
    event(users[0], items[0], "purchase")
    for _ in range(3):
        event(users[0], items[0], "dislike")  # like 1.5 + purchase 4 - 3 dislikes x 2 = -0.5
    when = timezone.now().isoformat()
    for invoice, quantity in (("7", 1), ("C7", -1)):  # bought, then returned
        service_client.post(
            "/api/orders/",
            {"invoice_no": invoice, "customer": users[1].pk, "ordered_at": when,
             "lines": [{"sku": items[3].sku, "quantity": quantity, "unit_price": "2.00"}]},
            format="json",
        )  # fmt: skip
    update_interactions()
    rows, how = read(caplog)
    assert how == "snapshot and changes"
    assert rows == table()
    assert (users[0].pk, items[0].pk, -0.5, True) in rows
    assert (users[1].pk, items[3].pk, 0.0, True) in rows
    update_interactions(full=True)
    assert read(caplog)[0] == rows
