"""The update path under late commits, concurrent publishers, absurd timestamps and a noisy
quality gate (issue: the update path made correct)."""

import json
import threading
import uuid
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from catalog.models import Item
from recommendations import artifacts, store
from recommendations.ml.als import AlsParams
from recommendations.ml.synthetic import ShopSpec
from recommendations.models import (
    Interaction,
    ModelRun,
    Order,
    OrderLine,
    UserProductInteraction,
)
from recommendations.services.aggregation import update_interactions
from recommendations.services.demo import generate_demo_data
from recommendations.services.pipeline import pipeline_lock, run_pipeline
from recommendations.services.precompute.decks import generate_decks
from recommendations.services.precompute.top_buys import generate_top_buys
from recommendations.services.training.als import train_als_model
from recommendations.services.training.mf import train_mf_model
from recommendations.services.training.model_runs import served_run
from recommendations.store.publishing import FULL_SWEEP_VERSIONS
from tests import reads
from tests.conftest import client_for
from tests.factories import ItemFactory, UserFactory

SPEC = ShopSpec(users=600, items=160, events=24_000, groups=4, orders=3000, seed=5)


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


# ---- one publisher per family; pointers name complete versions only ---------------------


def _publish_global(items: list[int]) -> store.Publication:
    reads.write_cards_for(items)
    with store.publishing(store.GLOBAL) as publication:
        publication.put(store.GLOBAL_TRENDING, items, [1.0] * len(items))
        publication.commit(built_at="now")
    return publication


def _trending() -> list[int]:
    return [e.item_id for e in reads.read_global(store.GLOBAL_TRENDING, limit=100)]


@pytest.mark.django_db
def test_a_second_publisher_of_a_family_is_refused_while_the_first_writes():
    _publish_global([1, 2])
    reads.write_cards_for([3, 4, 5])
    with store.publishing(store.GLOBAL) as first:
        first.put(store.GLOBAL_TRENDING, [3, 4, 5], [3.0, 2.0, 1.0])
        with pytest.raises(store.PublishLocked, match="another job is publishing global"):
            _publish_global([9])
        first.commit(built_at="now")
    assert _trending() == [3, 4, 5]
    assert store.client().get(store.keys.key("previous", store.GLOBAL)) is not None
    store.rollback(store.GLOBAL)
    assert _trending() == [1, 2]  # the rollback target was complete too
    _publish_global([7])  # the lock was given back
    assert _trending() == [7]


@pytest.mark.django_db
def test_the_command_of_a_family_being_published_exits_non_zero_saying_why():
    with store.publishing(store.GLOBAL), pytest.raises(CommandError, match="another job"):
        call_command("generate_global_top_buys")


@pytest.mark.django_db
def test_a_publisher_that_lost_its_lock_switches_nothing_and_leaves_no_keys():
    _publish_global([1, 2])
    live = store.live_version(store.GLOBAL)
    late = store.Publication(store.GLOBAL)
    late.put(store.GLOBAL_TRENDING, [8, 9], [1.0, 0.5])
    late.flush()
    # the lock expired while the job was paused, and another job took it
    store.client().set(late.lock.key(), "another-job")
    with pytest.raises(store.LockLost):
        late.commit(built_at="now")
    late.abort()
    assert store.live_version(store.GLOBAL) == live
    assert _trending() == [1, 2]
    assert not list(store.client().scan_iter(match=store.keys.key(f"v{late.version}", "*")))


@pytest.mark.django_db
def test_a_run_whose_pipeline_lock_was_taken_switches_no_pointer():
    _publish_global([1, 2])
    with pipeline_lock(ttl_seconds=60) as lock:
        store.client().set(lock.key(), "another-run")
        with pytest.raises(store.LockLost, match="pipeline"):
            _publish_global([5])
    assert _trending() == [1, 2]


def test_a_held_lock_knows_when_a_refresh_finds_it_taken():
    lock = store.HeldLock(f"probe-{uuid.uuid4().hex}", ttl_seconds=1)
    assert lock.acquire()
    try:
        assert not lock.lost.wait(0.8)  # refreshed while ours
        store.client().set(lock.key(), "someone-else")
        assert lock.lost.wait(2)
    finally:
        lock.release()
    assert store.client().get(lock.key()) == b"someone-else"  # not ours to delete


@pytest.mark.django_db
def test_versions_no_family_names_are_found_and_deleted_by_the_next_publish():
    redis = store.client()
    _publish_global([1])
    stray = int(redis.incr(store.keys.key("version_seq")))  # a writer that lost its set entry
    redis.set(store.keys.key(f"v{stray}", "global", "trending"), b"half")
    redis.set(store.keys.key("meta", store.GLOBAL, stray), b"{}")
    _publish_global([2])
    _publish_global([3])
    assert redis.get(store.keys.key(f"v{stray}", "global", "trending")) is None
    assert redis.get(store.keys.key("meta", store.GLOBAL, stray)) is None
    versions = {int(v) for v in redis.smembers(store.keys.key("versions", store.GLOBAL))}
    assert versions == {
        store.live_version(store.GLOBAL),
        int(redis.get(store.keys.key("previous", "global"))),
    }


def _stray(redis: object) -> str:
    """A version written by a writer that lost its set entry: its key."""
    version = int(redis.incr(store.keys.version_seq()))
    name = store.keys.key(f"v{version}", "global", "trending")
    redis.set(name, b"half")
    return name


@pytest.mark.django_db
@pytest.mark.parametrize("strays", [1, FULL_SWEEP_VERSIONS + 2])
def test_a_sweep_finds_strays_by_version_or_by_a_full_scan_and_spares_versions_being_written(
    strays,
):
    """A few strays cost one filtered SCAN each, many of them one scan of every name: either
    way they go, and a version another family is still writing (named, not live) stays."""
    redis = store.client()
    _publish_global([1])
    names = [_stray(redis) for _ in range(strays)]
    writing = store.Publication(store.TOP_BUYS)
    writing.put(7, [1], [1.0])
    writing.flush()
    _publish_global([2])
    assert [redis.get(name) for name in names] == [None] * strays
    assert redis.exists(store.keys.list_key(writing.version, store.TOP_BUYS, 7))
    writing.commit(built_at="now")
    assert store.live_version(store.TOP_BUYS) == writing.version


@pytest.mark.django_db
def test_a_store_without_the_sweep_mark_is_swept_whole_once():
    """Versions issued before the mark existed: the first sweep reads every name."""
    redis = store.client()
    _publish_global([1])
    name = _stray(redis)
    redis.delete(store.keys.swept_through())
    _publish_global([2])
    assert redis.get(name) is None
    assert int(redis.get(store.keys.swept_through())) == store.live_version(store.GLOBAL)


# ---- absurd timestamps are refused everywhere; recency counts from the run's time ---------

ABSURD_TIMES = ["9999-12-30T00:00:00Z", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00Z"]


@pytest.mark.django_db
@pytest.mark.parametrize("when", [*ABSURD_TIMES, "2100-01-01T00:00:00Z", "1970-01-01T00:00:00Z"])
def test_an_event_or_order_with_an_absurd_time_is_a_400_naming_the_field(service_client, when):
    item, shopper = ItemFactory(sku="A"), UserFactory()
    event = service_client.post(
        "/api/interactions/",
        [{"item": item.pk, "kind": "like", "user": shopper.pk, "timestamp": when}],
        format="json",
    )
    assert event.status_code == 400
    assert [e["field"] for e in event.json()["errors"]] == ["timestamp"]
    order = service_client.post(
        "/api/orders/",
        {"invoice_no": "X1", "customer": shopper.pk, "ordered_at": when,
         "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}]},
        format="json",
    )  # fmt: skip
    assert order.status_code == 400
    assert "ordered_at" in order.json()["errors"]
    assert not Interaction.objects.exists()
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_imports_report_absurd_times_by_line_and_keep_the_good_rows(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "1,A,ok,1,2024-05-01 10:00:00,1.00,17850,UK\n"
        "2,A,future,1,9999-12-31T23:59:59-14:00,1.00,17850,UK\n"
        "3,A,ancient,1,0001-01-01 00:00:00,1.00,17850,UK\n"
    )
    events = tmp_path / "events.csv"
    events.write_text(
        "user,item,event,timestamp\n"
        "u1,A,like,2024-05-01T10:00:00Z\n"
        "u1,A,like,9999-12-31T23:59:59-14:00\n"
        "u1,A,dislike,0001-01-01T00:00:00Z\n"
    )
    out = StringIO()
    call_command("import_orders", str(orders), stdout=out)
    call_command("import_interactions", str(events), stdout=out)
    report = out.getvalue()
    assert (report.count("line 3:"), report.count("line 4:")) == (2, 2), report
    assert "in the future" in report
    assert "is before 1990-01-01" in report
    assert list(Order.objects.values_list("invoice_no", flat=True)) == ["1"]
    assert Interaction.objects.count() == 1


@pytest.mark.django_db
def test_a_far_future_row_already_stored_neither_skews_recency_nor_stops_the_pipeline():
    """Rows written before timestamps were checked (or straight into the database)."""
    generate_demo_data(spec=SPEC)
    item = Item.objects.filter(is_active=True).last()
    guest = Order.objects.create(invoice_no="FUTURE", ordered_at=timezone.now())
    OrderLine.objects.create(order=guest, line_no=1, item=item, quantity=1, unit_price=1)
    Order.objects.filter(pk=guest.pk).update(ordered_at=datetime(9999, 12, 31, 23, 0, tzinfo=UTC))
    Interaction.objects.create(
        user=UserFactory(), item=item, kind="purchase", occurred_at=timezone.now()
    )
    Interaction.objects.filter(item=item, kind="purchase").update(
        occurred_at=datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
    )
    steps = {step.name: step.outcome for step in run_pipeline()}
    assert "generate_global_top_buys" in steps
    assert "generate_similar_items" in steps
    trending = reads.read_global(store.GLOBAL_TRENDING, limit=100)
    assert len(trending) > 20  # not one item for everyone
    assert item.pk not in [e.item_id for e in trending]  # not counted before its time
    run = ModelRun.objects.filter(kind=ModelRun.Kind.ALS).first()
    assert run.metrics["ndcg@10"] > 2 * run.metrics["baseline_ndcg@10"]


# ---- the ratings model is a kind of its own and beats the mean -----------------------------


@pytest.mark.django_db
def test_the_ratings_model_beats_the_mean_and_never_replaces_the_swipe_model():
    rng = np.random.default_rng(3)
    users, items = UserFactory.create_batch(60), ItemFactory.create_batch(30)
    now = timezone.now()
    swipes, rated = [], []
    for user_index, user in enumerate(users):
        for item_index in rng.choice(len(items), 20, replace=False):
            same = user_index % 2 == item_index % 2  # two taste groups: 5 inside, 1 outside
            kind = "like" if same else "dislike"
            swipes.append(
                Interaction(user=user, item=items[item_index], kind=kind, occurred_at=now)
            )
            rating = (5.0 if same else 1.0) + rng.normal(0, 0.3)
            rated.append(
                Interaction(
                    user=user, item=items[item_index], kind="view", value=rating, occurred_at=now
                )
            )
    Interaction.objects.bulk_create(swipes + rated)
    swipe_run = train_mf_model()
    assert swipe_run.published
    ratings_run = train_mf_model(ratings=True)
    assert ratings_run.kind == ModelRun.Kind.RATINGS
    assert ratings_run.published, ratings_run.decision
    assert ratings_run.metrics["mae"] < 0.6 * ratings_run.metrics["baseline_mae"]
    # the swipe model is still the one served, and its embeddings are still live
    assert served_run(ModelRun.Kind.MF) == swipe_run
    assert store.version_meta(store.MF)["model_run"] == swipe_run.pk
    assert store.version_meta(store.RATINGS)["model_run"] == ratings_run.pk
    assert train_mf_model(ratings=True).published  # not blocked by a score of another kind


# ---- the quality gate compares on the same held-out data --------------------------------


@pytest.mark.django_db
def test_a_new_user_gets_personal_lists_after_one_unforced_pipeline_run():
    demo = generate_demo_data(spec=SPEC)
    run_pipeline()
    newcomer = UserFactory()
    taste = sorted(demo.items_of_group(0))[:6]
    for item_id in taste[:5]:
        Interaction.objects.create(
            user=newcomer, item_id=item_id, kind="like", occurred_at=timezone.now()
        )
    Interaction.objects.create(
        user=newcomer, item_id=taste[5], kind="purchase", occurred_at=timezone.now()
    )
    run_pipeline()
    client = client_for(newcomer)
    for path in ("top-buys", "deck"):
        body = client.get(f"/api/recommendations/{path}/").json()
        assert body["fallback"] is False, (path, body["source"])
        assert len(body["results"]) == 20
    assert all(
        run.published for run in ModelRun.objects.filter(kind__in=["als", "mf"]).order_by("pk")
    ), list(ModelRun.objects.values_list("kind", "decision"))


@pytest.mark.django_db
def test_the_gate_trains_the_served_parameters_on_the_candidates_split_to_compare():
    generate_demo_data(spec=SPEC)
    update_interactions()
    weak = AlsParams(factors=2, iterations=2, regularization=5.0)
    assert train_als_model(params=weak).published  # the first model
    better = train_als_model(params=AlsParams())
    assert better.published, better.decision
    assert better.metrics["ndcg@10"] > better.metrics["served_params_ndcg@10"]
    worse = train_als_model(params=weak)
    assert not worse.published
    assert "on the same held-out data" in worse.decision
    # the served parameters themselves on the same data: the newer model is published
    again = train_als_model(params=AlsParams())
    assert again.published, again.decision
    assert "served_params_ndcg@10" not in again.metrics


@pytest.mark.django_db
def test_an_item_the_user_disliked_never_appears_in_their_top_buys_or_deck():
    demo = generate_demo_data(spec=SPEC)
    run_pipeline()
    user_id = int(demo.user_ids[3])
    first_top = reads.read_top_buys(user_id=user_id, limit=3)
    disliked = [e.item_id for e in first_top]
    for item_id in disliked:
        Interaction.objects.create(
            user_id=user_id, item_id=item_id, kind="dislike", occurred_at=timezone.now()
        )
    # only the lists are rebuilt: the model served still ranks those items first
    generate_top_buys()
    generate_decks()
    assert not {e.item_id for e in reads.read_top_buys(user_id=user_id, limit=100)} & set(disliked)
    body = client_for(User.objects.get(pk=user_id)).get("/api/recommendations/deck/?limit=100")
    assert not {r["item"]["id"] for r in body.json()["results"]} & set(disliked)


# ---- catalog writes from anywhere reach the cards ------------------------------------------


@pytest.mark.django_db
def test_an_item_saved_or_deleted_outside_the_api_changes_its_card_at_once(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        item = ItemFactory(price="10.00")
    assert reads.read_cards([item.pk])[item.pk]["price"] == "10.00"
    item.price = "12.50"
    with django_capture_on_commit_callbacks(execute=True):
        item.save()  # what the Django admin does
    assert reads.read_cards([item.pk])[item.pk]["price"] == "12.50"
    item.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        item.save()
    assert reads.read_cards([item.pk]) == {}
    other = ItemFactory()
    with django_capture_on_commit_callbacks(execute=True):
        other.save()
    assert other.pk in reads.read_cards([other.pk])
    with django_capture_on_commit_callbacks(execute=True):
        other.delete()
    assert reads.read_cards([other.pk]) == {}


@pytest.mark.django_db
def test_a_staff_member_deactivating_an_item_in_the_admin_removes_it_from_lists(
    django_capture_on_commit_callbacks, admin_client
):
    with django_capture_on_commit_callbacks(execute=True):
        item = ItemFactory()
    _publish_global([item.pk])
    assert _trending() == [item.pk]
    assert [
        e["item"]["id"] for e in APIClient().get("/api/recommendations/trending/").json()["results"]
    ] == [item.pk]
    form = {
        f.name: json.dumps(value) if isinstance(value, list | dict) else value
        for f in item._meta.fields
        if f.name not in ("id", "image", "is_active")
        and (value := getattr(item, f.attname)) is not None
    }
    with django_capture_on_commit_callbacks(execute=True):  # an unticked box is not sent
        answer = admin_client.post(f"/admin/catalog/item/{item.pk}/change/", form)
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    assert APIClient().get("/api/recommendations/trending/").json()["results"] == []


# ---- artifacts: one folder per database, never by URL, a lost one does not stop the run ----


@pytest.mark.django_db
@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_missing_or_damaged_served_artifact_does_not_stop_the_pipeline(damage):
    generate_demo_data(spec=SPEC)
    run_pipeline()
    served = served_run(ModelRun.Kind.ALS)
    storage = storages["artifacts"]
    if damage == "delete":
        storage.delete(served.artifact_name)
    else:
        path = Path(storage.path(served.artifact_name))
        path.write_bytes(path.read_bytes()[:100])
    steps = {step.name: step.outcome for step in run_pipeline()}
    assert f"served run #{served.pk} has no readable artifact" in steps["train_als_model"]
    assert "lists published" in steps["generate_top_buys"]
    assert "lists published" in steps["generate_similar_items"]


def _artifacts_in(settings, folder) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(folder)},
        },
    }


@pytest.mark.django_db
def test_artifacts_of_another_database_are_never_listed_or_pruned(settings, tmp_path):
    _artifacts_in(settings, tmp_path)
    mine = artifacts.save(kind="als", obj={"db": "this"})
    other_db = {**connection.settings_dict, "NAME": "another_database"}
    with patch.object(connection, "settings_dict", other_db):
        theirs = artifacts.save(kind="als", obj={"db": "other"})
        assert artifacts.stored("als") == [theirs]
    assert artifacts.stored("als") == [mine]
    assert artifacts.prune("als", keep=set()) == [mine]
    assert storages["artifacts"].exists(theirs)


@pytest.mark.django_db
def test_an_artifacts_companion_is_kept_and_pruned_with_it(settings, tmp_path):
    _artifacts_in(settings, tmp_path)
    kept, dropped = (artifacts.save(kind="mf", obj={"run": n}) for n in (1, 2))
    beside = [artifacts.save_companion(name, "held-out", {"of": name}) for name in (kept, dropped)]
    assert artifacts.load(beside[0]) == {"of": kept}
    assert sorted(artifacts.prune("mf", keep={kept})) == sorted([dropped, beside[1]])
    assert artifacts.stored("mf") == sorted([kept, beside[0]])


@pytest.mark.django_db
def test_no_url_serves_an_artifact_in_local_settings(client, settings):
    settings.DEBUG = True  # local settings serve MEDIA_ROOT
    name = artifacts.save(kind="als", obj={"secret": 1})
    assert not Path(settings.MEDIA_ROOT, name).exists()
    assert Path(settings.ARTIFACTS_ROOT, name).exists()
    for url in (f"{settings.MEDIA_URL}{name}", f"/{name}", f"/not-served/{name}"):
        assert client.get(url).status_code == 404


# ---- evaluate compares every model -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("split", ["temporal", "random"])
def test_evaluate_scores_als_mf_and_ratings_beside_their_baselines(split):
    demo = generate_demo_data(spec=SPEC)
    rng = np.random.default_rng(1)
    rated = []
    rated_items = np.concatenate(  # ten of each taste group, twenty ratings per rater
        [sorted(demo.items_of_group(group))[:10] for group in range(SPEC.groups)]
    )
    for row in range(0, SPEC.users, 3):  # ratings that follow the planted taste groups
        user_id = int(demo.user_ids[row])
        own = demo.items_of_group(demo.group_of_user(user_id))
        for item_id in rng.choice(rated_items, 20, replace=False).tolist():
            rating = (4.5 if item_id in own else 1.5) + rng.normal(0, 0.3)
            rated.append(
                Interaction(
                    user_id=user_id,
                    item_id=item_id,
                    kind="view",
                    value=rating,
                    occurred_at=timezone.now() - timezone.timedelta(days=int(rng.integers(60))),
                )
            )
    Interaction.objects.bulk_create(rated)
    out = StringIO()
    call_command("evaluate", "--split", split, "--json", stdout=out)
    results = json.loads(out.getvalue())
    families = {"als", "bm25", "tfidf", "cosine", "trend", "blend", "popularity"}
    assert set(results) == families | {"mf", "mf_bias", "mf_item_rate", "ratings"}
    assert results["als"]["ndcg@10"] > 1.5 * results["popularity"]["ndcg@10"]
    for family in families:  # coverage and hit rate beside the ranking metrics
        assert {"ndcg@10", "precision@10", "recall@10", "map@10", "hit_rate@10", "coverage"} <= set(
            results[family]
        )
    assert results["blend"]["family"] == "als"  # nothing tuned: the defaults are plain ALS
    assert results["blend"]["ndcg@10"] == pytest.approx(results["als"]["ndcg@10"])
    baselines = results["mf_bias"]["auc"], results["mf_item_rate"]["auc"]
    assert results["mf"]["auc"] > max(0.85, *baselines)
    assert {"log_loss", "ndcg@10"} <= set(results["mf"])
    assert results["ratings"]["mae"] < 0.7 * results["ratings"]["baseline_mae"]
