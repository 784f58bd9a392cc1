"""The refresher: a swipe reaches the user's deck, top buys and predictions between batch runs."""

import threading
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from catalog.models import Item
from recommendations import store
from recommendations.ml.synthetic import ShopSpec
from recommendations.models import Interaction, PendingRefresh
from recommendations.services import freshness
from recommendations.services.demo import generate_demo_data
from recommendations.services.interactions import OrderLineIn, create_order
from recommendations.services.pipeline import run_pipeline
from recommendations.services.precompute.decks import generate_decks
from tests import reads
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.refresher import refresher_running, wait_for

SPEC = ShopSpec(users=300, items=300, events=15_000, groups=4, orders=1000, seed=5)


@pytest.fixture
def served(db):
    demo = generate_demo_data(spec=SPEC)
    run_pipeline()
    PendingRefresh.objects.all().delete()  # the demo's own events: the batch has them
    return demo


def like(client, item_id: int, kind: str = "like") -> None:
    response = client.post("/api/interactions/", {"item": item_id, "kind": kind}, format="json")
    assert response.status_code == 201, response.content


def refresh_queued() -> int:
    return freshness.claim_and_refresh(models=freshness.load_models(), prefer=set(), limit=1000)


def deck_ids(client, limit: int = 10) -> tuple[str, list[int]]:
    answer = client.get(f"/api/recommendations/deck/?limit={limit}").json()
    return answer["source"], [r["item"]["id"] for r in answer["results"]]


def group_share(demo, ids: list[int], group: int) -> float:
    return float(np.mean([i in demo.items_of_group(group) for i in ids]))


@pytest.mark.django_db(transaction=True)
def test_a_new_users_five_likes_change_their_deck_within_seconds(served):
    user = UserFactory()
    client = client_for(user)
    assert deck_ids(client)[0] == "onboarding"
    liked = sorted(served.items_of_group(2))[:5]
    with refresher_running(poll_seconds=10):  # a notice, not the poll, must wake it
        for item in liked:
            like(client, item)
        took = wait_for(lambda: deck_ids(client)[0] == "deck", seconds=5)
        wait_for(lambda: not PendingRefresh.objects.exists(), seconds=5)
    source, ids = deck_ids(client)
    assert took < 5
    assert source == "deck"
    assert not set(ids) & set(liked)
    assert group_share(served, ids, 2) >= 0.7
    # each personal entry names the like that explains it
    answer = client.get("/api/recommendations/deck/?limit=10").json()
    reasons = {r["because"] for r in answer["results"] if r["source"] == "mf"}
    assert reasons
    assert reasons <= set(liked)


@pytest.mark.django_db(transaction=True)
def test_a_notice_dropped_on_purpose_is_caught_up_from_postgresql(served):
    user = UserFactory()
    liked = sorted(served.items_of_group(1))[:5]
    # Written past the API, as an import or a lost notice would: PostgreSQL queues it anyway.
    Interaction.objects.bulk_create(
        Interaction(user=user, item_id=i, kind="like", occurred_at=timezone.now()) for i in liked
    )
    assert PendingRefresh.objects.filter(user_id=user.pk).exists()
    client = client_for(user)
    with refresher_running(poll_seconds=0.5):
        took = wait_for(lambda: deck_ids(client)[0] == "deck", seconds=10)
    assert took < 10
    assert group_share(served, deck_ids(client)[1], 1) >= 0.7


def test_predict_answers_for_a_user_with_one_swipe_and_for_one_with_none(served):
    item = sorted(served.items_of_group(3))[0]
    newcomer, swiper = UserFactory(), UserFactory()
    prior = client_for(newcomer).get(f"/api/recommendations/predict/?item_id={item}").json()
    assert prior["source"] == "item_prior"
    assert 0 < prior["like_probability"] < 1

    like(client_for(swiper), sorted(served.items_of_group(3))[1])
    assert (
        client_for(swiper).get(f"/api/recommendations/predict/?item_id={item}").json()["source"]
        == "item_prior"
    )  # before the refresh
    assert refresh_queued() == 1
    personal = client_for(swiper).get(f"/api/recommendations/predict/?item_id={item}").json()
    assert personal["source"] == "personal"
    other_group = sorted(served.items_of_group(0))[0]
    other = client_for(swiper).get(f"/api/recommendations/predict/?item_id={other_group}").json()
    assert personal["like_probability"] > other["like_probability"]


def test_a_fresh_list_never_shows_a_disliked_bought_or_deactivated_item(served):
    user = UserFactory()
    client = client_for(user)
    group = sorted(served.items_of_group(0))
    for item in group[:5]:
        like(client, item)
    refresh_queued()
    top = [e.item_id for e in reads.read_top_buys(user_id=user.pk, limit=10)]
    deck = [e.item_id for e in reads.read_list(store.DECK, user.pk, limit=10)]
    disliked, bought, gone = deck[0], top[0], deck[1] if deck[1] != top[0] else deck[2]
    like(client, disliked, kind="dislike")
    create_order(
        invoice_no="F1", customer=user, ordered_at=timezone.now(),
        lines=[OrderLineIn(bought, 1, Decimal("9.99"))],
    )  # fmt: skip
    item = Item.objects.get(pk=gone)
    item.is_active = False
    item.save()
    assert refresh_queued() == 1
    # the stored lists themselves, not only what a read filters out
    top = {e.item_id for e in reads.read_list(store.TOP_BUYS, user.pk, limit=100)}
    deck = {e.item_id for e in reads.read_list(store.DECK, user.pk, limit=100)}
    raw = store.client().get(
        store.keys.list_key(store.live_version(store.DECK), store.DECK, user.pk)
    )
    stored_deck = set(np.frombuffer(raw, dtype=store.RECORD)["item"].tolist())
    for items in (top, deck, stored_deck):
        assert not items & {disliked, bought, gone}
    assert not (deck | stored_deck) & set(group[:5])  # swiped: never in a deck again


def test_two_refreshers_never_write_one_user_at_once_and_a_crash_loses_nothing(served, monkeypatch):
    user = UserFactory()
    like(client_for(user), sorted(served.items_of_group(0))[0])
    models = freshness.load_models()
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:  # a second refresher, inside the refresh of this user
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                assert freshness._lock_users(cursor, [user.pk], limit=1) == [user.pk]
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    # the test's data is in its own open transaction: the other thread locks only the id
    other = threading.Thread(target=hold)
    other.start()
    assert holding.wait(10)
    try:
        assert freshness.claim_and_refresh(models=models, prefer={user.pk}, limit=10) == 0
        assert PendingRefresh.objects.filter(user_id=user.pk).exists()
    finally:
        release.set()
        other.join()

    def crash(*_args, **_kwargs):
        raise RuntimeError("killed mid-refresh")

    monkeypatch.setattr(freshness, "refresh", crash)
    with pytest.raises(RuntimeError):
        freshness.claim_and_refresh(models=models, prefer=set(), limit=10)
    assert PendingRefresh.objects.filter(user_id=user.pk).exists()  # still queued
    monkeypatch.undo()
    assert freshness.claim_and_refresh(models=models, prefer=set(), limit=10) == 1
    assert not PendingRefresh.objects.exists()


def test_a_fresh_write_into_a_version_no_longer_live_writes_nothing(served):
    user = UserFactory()
    fresh = store.FreshLists()
    fresh.add_list(store.DECK, user.pk, [1, 2], [0.9, 0.8], "mf")
    versions = store.live_versions([store.DECK])
    generate_decks()  # a batch publish switches the deck meanwhile
    assert not store.write_fresh(fresh, versions=versions)
    assert reads.read_list(store.DECK, user.pk, limit=10) == []


def test_a_batch_publish_after_a_refresh_serves_the_batchs_lists(served):
    user = UserFactory()
    client = client_for(user)
    for item in sorted(served.items_of_group(3))[:5]:
        like(client, item)
    refresh_queued()
    seen = store.live_versions(freshness.FAMILIES)
    fresh = client.get("/api/recommendations/deck/?limit=100").json()
    run_pipeline()  # retrains with the user's likes and publishes new versions
    answer = client.get("/api/recommendations/deck/?limit=100").json()
    assert answer["source"] == "deck"
    assert answer["version"] == store.live_version(store.DECK) != fresh["version"]
    batch = [e.item_id for e in reads.read_deck(user_id=user.pk, limit=100)]
    assert [r["item"]["id"] for r in answer["results"]] == batch
    # and the refresher refreshes the user again against the new models
    _, cut = freshness.superseded_since(seen)
    assert freshness.requeue_refreshed_since(cut) == 1


def test_a_rollback_requeues_the_users_refreshed_since_its_data_was_read(served):
    user = UserFactory()
    generate_decks()  # a version before the live one, to roll back to
    like(client_for(user), sorted(served.items_of_group(0))[0])
    seen = store.live_versions(freshness.FAMILIES)
    refresh_queued()
    store.rollback(store.DECK)  # back to a version built before this refresh
    _, cut = freshness.superseded_since(seen)
    assert cut is not None
    assert freshness.requeue_refreshed_since(cut) == 1
    assert PendingRefresh.objects.filter(user_id=user.pk).exists()


def test_the_onboarding_deck_spans_the_catalogs_clusters(served):
    client = client_for(UserFactory())
    source, ids = deck_ids(client, limit=8)
    assert source == "onboarding"
    groups = {served.shop.item_group[np.flatnonzero(served.item_ids == i)[0]] for i in ids}
    assert len(groups) == SPEC.groups


def test_batch_lists_explain_each_entry_with_the_users_own_items(served):
    user_id = int(served.user_ids[0])
    own = set(
        Interaction.objects.filter(user_id=user_id, kind="like").values_list("item_id", flat=True)
    )
    deck = reads.read_deck(user_id=user_id, limit=20)
    assert {e.because for e in deck if e.source == "mf"} <= own
    assert any(e.because for e in deck)
    top = reads.read_top_buys(user_id=user_id, limit=20)
    assert all(e.because for e in top)


def test_refresh_users_once_empties_the_queue(served):
    user = UserFactory()
    like(client_for(user), sorted(served.items_of_group(0))[0])
    assert freshness.run_refresher(once=True) == 1
    assert not PendingRefresh.objects.exists()
    assert reads.read_list(store.DECK, user.pk, limit=10)


def test_the_refresh_users_command_refuses_absurd_options_and_runs_once(db):
    from io import StringIO

    from django.core.management import CommandError, call_command

    for bad in (["--batch", "0"], ["--poll-seconds", "0"], ["--poll-seconds", "99999"]):
        with pytest.raises(CommandError):
            call_command("refresh_users", "--once", *bad)
    out = StringIO()
    call_command("refresh_users", "--once", stdout=out)  # no model, nothing queued: ends
    assert out.getvalue().strip() == "0 users refreshed"
