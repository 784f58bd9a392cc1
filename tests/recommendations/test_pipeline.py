import json
from datetime import timedelta
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from catalog.models import Item
from recommendations import artifacts, store
from recommendations.ml.als import AlsParams
from recommendations.ml.basket import BasketParams
from recommendations.ml.blend import GUARD_MARGIN
from recommendations.ml.synthetic import ShopSpec
from recommendations.models import BatchMetadata, Interaction, ModelRun, UserProductInteraction
from recommendations.services.aggregation import update_interactions
from recommendations.services.demo import generate_demo_data
from recommendations.services.pipeline import PipelineLocked, pipeline_lock, run_pipeline
from recommendations.services.precompute.bought_together import generate_bought_together
from recommendations.services.precompute.global_lists import generate_global_top_buys
from recommendations.services.precompute.top_buys import generate_top_buys
from recommendations.services.publish import publish_catalog
from recommendations.services.training.als import train_als_model
from recommendations.services.training.basket import train_market_basket
from tests import reads
from tests.factories import ItemFactory, UserFactory

pytestmark = pytest.mark.django_db
SPEC = ShopSpec(users=600, items=160, events=24_000, groups=4, orders=3000, seed=5)


@pytest.fixture
def demo():
    return generate_demo_data(spec=SPEC)


@pytest.fixture
def served(demo):
    """The demo shop with the whole pipeline run once."""
    run_pipeline()
    return demo


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_top_buys_of_a_taste_group_are_mostly_that_groups_items(served):
    shares = []
    for row in range(0, SPEC.users, 7):
        user_id = int(served.user_ids[row])
        entries = reads.read_top_buys(user_id=user_id, limit=10)
        own = served.items_of_group(served.group_of_user(user_id))
        shares.append(np.mean([e.item_id in own for e in entries]))
    assert np.mean(shares) > 0.8


def test_top_buys_leave_out_what_the_user_bought(served):
    for row in range(0, SPEC.users, 25):
        user_id = int(served.user_ids[row])
        bought = set(
            Interaction.objects.filter(user_id=user_id, kind="purchase").values_list(
                "item_id", flat=True
            )
        )
        listed = {e.item_id for e in reads.read_top_buys(user_id=user_id, limit=100)}
        assert listed
        assert not listed & bought


def test_a_planted_pair_comes_first_in_its_products_bought_together_list(served):
    firsts = []
    for a, b in served.shop.pairs:
        item_a, item_b = int(served.item_ids[a]), int(served.item_ids[b])
        entries = reads.read_bought_together(item_id=item_a, limit=5)
        firsts.append(bool(entries) and entries[0].item_id == item_b)
    assert np.mean(firsts) >= 0.8


def test_global_top_buys_follow_the_planted_popularity(served):
    entries = reads.read_global(store.GLOBAL_TOP_BUYS, limit=SPEC.groups)
    rank = dict(zip(served.item_ids.tolist(), served.shop.item_rank.tolist(), strict=True))
    assert [rank[e.item_id] for e in entries] == [0] * SPEC.groups
    trending = [rank[e.item_id] for e in reads.read_global(store.GLOBAL_TRENDING, limit=20)]
    # 20 items from 4 groups of 40: the popular head (ranks 0-4), far from a random 19.5.
    assert max(trending[: SPEC.groups]) <= 1
    assert np.mean(trending) < 5


def test_a_deactivated_item_is_left_out_of_the_next_lists(served):
    top = reads.read_global(store.GLOBAL_TOP_BUYS, limit=1)[0].item_id
    Item.objects.filter(pk=top).update(is_active=False)
    generate_global_top_buys()
    generate_top_buys()
    assert top not in {e.item_id for e in reads.read_global(store.GLOBAL_TOP_BUYS, limit=100)}
    some_user = int(served.user_ids[0])
    assert top not in {e.item_id for e in reads.read_top_buys(user_id=some_user, limit=100)}


def test_catalog_cards_are_published_and_follow_catalog_changes(
    served, service_client, django_capture_on_commit_callbacks
):
    item = Item.objects.filter(is_active=True).first()
    assert reads.read_cards([item.pk])[item.pk]["title"] == item.title
    with django_capture_on_commit_callbacks(execute=True):
        service_client.patch(f"/api/items/{item.pk}/", {"title": "Renamed"}, format="json")
    assert reads.read_cards([item.pk])[item.pk]["title"] == "Renamed"
    with django_capture_on_commit_callbacks(execute=True):
        service_client.patch(f"/api/items/{item.pk}/", {"is_active": False}, format="json")
    assert reads.read_cards([item.pk]) == {}


def test_each_run_folds_in_only_the_events_no_run_has_taken():
    user, item = UserFactory(), ItemFactory()
    Interaction.objects.create(user=user, item=item, kind="like", occurred_at=timezone.now())
    update_interactions()
    assert UserProductInteraction.objects.get(user=user, product=item).score == 1.5
    assert update_interactions().rows_touched == 0
    Interaction.objects.create(user=user, item=item, kind="cart", occurred_at=timezone.now())
    other = ItemFactory()
    Interaction.objects.create(user=user, item=other, kind="dislike", occurred_at=timezone.now())
    assert update_interactions().rows_touched == 2
    assert UserProductInteraction.objects.get(user=user, product=item).score == 3.5
    assert UserProductInteraction.objects.get(user=user, product=other).score == -2.0
    assert BatchMetadata.objects.get(job_name="update_interactions").batch == 2


def test_a_cancelled_order_subtracts_and_full_rebuilds_from_scratch(service_client):
    item, shopper = ItemFactory(sku="A"), UserFactory()
    line = {"sku": "A", "quantity": 1, "unit_price": "5.00"}
    when = (timezone.now() - timedelta(days=1)).isoformat()
    for invoice, qty in (("1", 1), ("2", 1), ("C3", -1)):
        service_client.post(
            "/api/orders/",
            {"invoice_no": invoice, "customer": shopper.id, "ordered_at": when,
             "lines": [{**line, "quantity": qty}]},
            format="json",
        )  # fmt: skip
    update_interactions()
    assert UserProductInteraction.objects.get(user=shopper, product=item).score == 4.0
    UserProductInteraction.objects.update(score=99)
    update_interactions(full=True)
    assert UserProductInteraction.objects.get(user=shopper, product=item).score == 4.0


def test_a_publish_that_dies_halfway_leaves_the_old_version_serving(served, monkeypatch):
    user_id = int(served.user_ids[0])
    before = reads.read_top_buys(user_id=user_id, limit=10)
    version = store.live_version(store.TOP_BUYS)
    real_put_rows = store.Publication.put_rows

    def write_half_then_die(self, owners, item_ids, scores, because):
        half = len(owners) // 2
        real_put_rows(self, owners[:half], item_ids[:half], scores[:half], because[:half])
        self.flush()  # half of the new version really is in Redis
        raise RuntimeError("killed halfway")

    monkeypatch.setattr(store.Publication, "put_rows", write_half_then_die)
    with pytest.raises(RuntimeError, match="killed halfway"):
        generate_top_buys()
    assert store.live_version(store.TOP_BUYS) == version
    assert reads.read_top_buys(user_id=user_id, limit=10) == before


def test_rollback_serves_the_previous_version_again(served):
    first = store.live_version(store.GLOBAL)
    Item.objects.filter(pk=reads.read_global("top_buys", limit=1)[0].item_id).update(
        is_active=False
    )
    generate_global_top_buys()
    second_top = reads.read_global("top_buys", limit=1)[0].item_id
    output = command("rollback_recommendations", "--family", "global")
    assert f"now serving version {first}" in output
    assert store.live_version(store.GLOBAL) == first
    assert reads.read_global("top_buys", limit=1)[0].item_id != second_top


def test_old_versions_are_deleted_after_the_next_publish_keeping_one_for_rollback(served):
    versions = [generate_global_top_buys().version for _ in range(3)]
    assert reads.read_global("top_buys", limit=1)
    store.rollback(store.GLOBAL)
    assert store.live_version(store.GLOBAL) == versions[1]
    with pytest.raises(store.NothingToRollBack):
        store.rollback("no-such-family")


def test_the_quality_gate_refuses_a_worse_model_unless_forced(served):
    served_before = ModelRun.objects.filter(kind="als", published=True).first()
    worse = train_als_model(params=AlsParams(factors=1, iterations=1, regularization=10))
    assert worse.published is False
    assert worse.decision.startswith(f"kept served run #{served_before.pk}")
    assert ModelRun.objects.filter(kind="als", published=True).first() == served_before
    forced = train_als_model(params=AlsParams(factors=1, iterations=1), force=True)
    assert forced.published is True


def test_tuning_records_every_trial_and_the_winner_becomes_the_current_params(served):
    run = train_als_model(tune=4)
    assert len([t for t in run.trials if t["family"] == "als"]) == 4  # ALS alone, then blends
    families = {t["family"] for t in run.trials}
    assert {"bm25", "tfidf", "cosine", "trend", "als+bm25", "als+trend", "bm25+trend"} <= families
    # plain ALS with the parameters tuning started from is the bar, with a margin
    floor = run.trials[0]["guard_ndcg@10"] * (1 + GUARD_MARGIN)
    checked = [t for t in run.trials[1:] if "guard_ndcg@10" in t]  # best first, until one passes
    assert all(t["eligible"] == (t["guard_ndcg@10"] >= floor) for t in checked)
    assert all(t["eligible"] is None for t in run.trials if "guard_ndcg@10" not in t)
    assert run.trials[0]["eligible"] is True
    best = max((t for t in run.trials if t["eligible"] is True), key=lambda t: t["ndcg@10"])
    assert run.params == best["params"]
    output = command("train_als_model")
    assert str(best["params"]["factors"]) in output


def test_a_served_blend_publishes_lists_with_the_nearest_bought_item_as_the_reason(served):
    params = AlsParams(item_weight=0.5, trend_weight=0.25, trend_days=30)
    run = train_als_model(params=params, force=True)
    assert run.published
    assert run.metrics["ndcg@10"] > 2 * run.metrics["baseline_ndcg@10"]
    generate_top_buys()
    user = int(served.user_ids[0])
    own = served.items_of_group(served.group_of_user(user))
    entries = reads.read_top_buys(user_id=user, limit=10)
    assert sum(e.item_id in own for e in entries) >= 8  # the blend still learnt the groups
    bought = set(
        UserProductInteraction.objects.filter(user_id=user, score__gt=0).values_list(
            "product_id", flat=True
        )
    )
    because = [e.because for e in entries if e.because]
    assert because
    assert set(because) <= bought


def test_evaluate_tune_reports_the_families_and_changes_nothing_served(served):
    runs = ModelRun.objects.count()
    for split in ("temporal", "random"):
        out = command("evaluate", "--split", split, "--days", "10", "--tune", "2", "--json")
        results = json.loads(out)
        assert {"als", "bm25", "tfidf", "cosine", "trend", "blend", "popularity"} <= set(results)
        assert results["blend"]["ndcg@10"] > 2 * results["popularity"]["ndcg@10"]
    assert ModelRun.objects.count() == runs  # evaluate records nothing, serves nothing


def test_model_runs_record_metrics_against_popularity(served):
    run = ModelRun.objects.filter(kind="als").first()
    for name in ("precision@10", "recall@10", "ndcg@10", "map@10", "hit_rate@10", "coverage"):
        assert name in run.metrics
        assert f"baseline_{name}" in run.metrics
    assert run.metrics["ndcg@10"] > 2 * run.metrics["baseline_ndcg@10"]
    assert run.data_size["users"] > 0
    basket = ModelRun.objects.filter(kind="basket").first()
    assert basket.metrics["rules_by_length"]["2"] >= len(served.shop.pairs)


def test_a_second_pipeline_run_exits_at_once_while_one_holds_the_lock(demo):
    with pipeline_lock(ttl_seconds=30):
        with pytest.raises(PipelineLocked):
            run_pipeline()
        with pytest.raises(CommandError, match="another run_pipeline is running"):
            command("run_pipeline")


def test_the_pipeline_command_prints_a_summary(demo):
    output = command("run_pipeline")
    for step in ("update_interactions", "train_als_model", "generate_bought_together"):
        assert step in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train_market_basket", "--min-support", "-0.1"], "min_support"),
        (["train_market_basket", "--min-confidence", "2"], "min_confidence"),
        (["train_als_model", "--factors", "0"], "--factors"),
        (["generate_top_buys", "--n", "0"], "--n"),
    ],
)
def test_bad_options_are_a_clear_error(demo, args, message):
    update_interactions()
    with pytest.raises(CommandError, match=message):
        command(*args)


def test_jobs_without_a_model_or_data_say_what_to_run_first(db):
    with pytest.raises(CommandError, match="run train_als_model first"):
        command("generate_top_buys")
    with pytest.raises(CommandError, match="run update_interactions first"):
        command("train_als_model")
    with pytest.raises(CommandError, match="no baskets"):
        command("train_market_basket")


def test_market_basket_reads_a_basket_file_for_analysts(tmp_path, db):
    path = tmp_path / "baskets.txt"
    path.write_text("bread,butter\nbread,butter,milk\nmilk\nbread,butter\n")
    output = command(
        "train_market_basket", "--baskets", str(path), "--min-support", "0.5", "--min-lift", "1"
    )
    assert "rules: 2 by length {2: 2}" in output


def test_publish_catalog_and_bought_together_run_alone(demo):
    assert publish_catalog() == SPEC.items
    train_market_basket(params=BasketParams())
    assert generate_bought_together().lists >= len(demo.shop.pairs)


def test_a_shop_without_swipes_runs_the_pipeline_and_skips_the_swipe_half(service_client):
    items = [ItemFactory(sku=f"S{n}") for n in range(6)]
    shoppers = [UserFactory() for _ in range(8)]
    when = (timezone.now() - timedelta(days=1)).isoformat()
    for n, shopper in enumerate(shoppers):
        picked = [items[n % 6], items[(n + 1) % 6], items[(n + 2) % 6]]
        service_client.post(
            "/api/orders/",
            {"invoice_no": f"I{n}", "customer": shopper.id, "ordered_at": when,
             "lines": [{"sku": i.sku, "quantity": 1, "unit_price": "3.00"} for i in picked]},
            format="json",
        )  # fmt: skip
    steps = {step.name: step.outcome for step in run_pipeline()}
    assert steps["train_mf_model"].startswith("skipped: no swipes")
    assert steps["generate_decks"].startswith("skipped")
    assert reads.read_top_buys(user_id=shoppers[0].id, limit=5)
    assert reads.read_similar(item_id=items[0].id, limit=5)


def test_a_later_als_run_starts_from_the_served_factors_and_ranks_as_well(demo):
    events = Interaction.objects.order_by("pk")
    late = [e for e in events if e.pk % 10 == 0]  # arrive after the first run
    Interaction.objects.filter(pk__in=[e.pk for e in late]).delete()
    update_interactions(full=True)
    first = train_als_model()
    assert "warm_start_run" not in first.metrics
    for event in late:
        event.pk = None
    Interaction.objects.bulk_create(late)
    update_interactions()

    warm = train_als_model()
    assert warm.published
    assert warm.metrics["warm_start_run"] == first.pk
    # From scratch on the same data (the served model unreadable): the same held-out pairs,
    # and the warm start, with a fifth of the iterations, ranks them as well.
    artifacts.delete(warm.artifact_name)
    cold = train_als_model(force=True)
    assert "warm_start_run" not in cold.metrics
    assert cold.data_size["held_out"] == warm.data_size["held_out"]
    assert warm.metrics["ndcg@10"] >= 0.97 * cold.metrics["ndcg@10"]  # 600 users: noise
    assert warm.metrics["ndcg@10"] > 1.5 * warm.metrics["baseline_ndcg@10"]
    # Other parameters start from scratch, and so does a run asked to.
    other = train_als_model(params=AlsParams(factors=8), force=True)
    assert "warm_start_run" not in other.metrics
    command("train_als_model", "--factors", "8", "--cold")
    assert "warm_start_run" not in ModelRun.objects.filter(kind="als").first().metrics
    command("train_als_model", "--factors", "8")
    assert ModelRun.objects.filter(kind="als").first().metrics["warm_start_run"] == other.pk + 1
