"""Spark as the engine (local mode, one session for this module): the same answers as the
single-machine path on data with a known answer, and the jobs behave the same with it."""

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from django.core.management import call_command

from recommendations import artifacts, store
from recommendations.ml import als, basket, spark
from recommendations.models import ModelRun
from recommendations.services import engines
from recommendations.services.demo import generate_demo_data
from recommendations.services.precompute.bought_together import generate_bought_together
from recommendations.services.precompute.top_buys import generate_top_buys
from recommendations.services.training.als import train_als_model
from recommendations.services.training.basket import train_market_basket
from tests import reads
from tests.conftest import free_port
from tests.recommendations.ml.test_basket import GROCERIES, planted_baskets
from tests.recommendations.test_pipeline import SPEC

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One local Spark session for the module, stopped after it."""
    made = spark.session("local[2]", shuffle_partitions=4, driver_memory="1g")
    yield made
    spark.stop_sessions()


def parquet(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def rule_set(rules) -> dict:
    return {
        (a, c): (round(s, 6), round(conf, 6), round(lift, 6))
        for a, c, s, conf, lift in zip(
            rules["antecedents"],
            rules["consequents"],
            rules["support"],
            rules["confidence"],
            rules["lift"],
            strict=True,
        )
    }


def test_fpgrowth_finds_the_planted_pair_with_the_same_numbers_as_mlxtend(session, tmp_path):
    baskets = planted_baskets()
    params = basket.BasketParams(min_support=0.05, min_confidence=0.1, min_lift=0)
    path = parquet(tmp_path, "b.parquet", spark.baskets_parquet(baskets))
    on_spark = spark.mine(session, path, params, n_baskets=len(baskets))
    local = basket.mine(baskets, params)
    assert rule_set(on_spark.rules) == rule_set(local.rules)
    assert (frozenset({"bread"}), frozenset({"butter"})) in rule_set(on_spark.rules)
    assert len(on_spark.itemsets) == len(local.itemsets)


def test_integer_items_come_back_as_integers_and_max_len_holds(session, tmp_path):
    baskets = [[1, 2, 3], [1, 2, 3], [1, 2], [2, 3]]
    labels = {str(i): i for b in baskets for i in b}
    params = basket.BasketParams(min_support=0.5, min_confidence=0.1, min_lift=0, max_len=2)
    path = parquet(tmp_path, "i.parquet", spark.baskets_parquet(baskets))
    mined = spark.mine(session, path, params, n_baskets=4, labels=labels)
    assert rule_set(mined.rules) == rule_set(basket.mine(baskets, params).rules)
    assert all(len(a) == 1 for a in mined.rules["antecedents"])  # 2 items at most


@pytest.mark.skipif(
    not GROCERIES.is_file(),
    reason="../shared/data/groceries/groceries.csv is absent (a user's clone has no ../shared)",
)
def test_groceries_rules_on_spark_are_exactly_mlxtends_463(session, tmp_path):
    baskets = [line.strip().split(",") for line in GROCERIES.open() if line.strip()]
    params = basket.BasketParams(min_support=0.006, min_confidence=0.25, min_lift=0)
    path = parquet(tmp_path, "g.parquet", spark.baskets_parquet(baskets))
    on_spark = spark.mine(session, path, params, n_baskets=len(baskets))
    assert len(on_spark.rules) == 463
    assert basket.rule_counts_by_length(on_spark.rules) == {2: 150, 3: 297, 4: 16}
    assert rule_set(on_spark.rules) == rule_set(basket.mine(baskets, params).rules)


def taste_groups(users: int = 80, items: int = 40) -> tuple[sp.csr_matrix, dict[int, int]]:
    """Two groups liking their own half of the items; one like per user held out."""
    dense = np.zeros((users, items), np.float32)
    dense[: users // 2, : items // 2] = 4
    dense[users // 2 :, items // 2 :] = 4
    held_out = {
        u: (u * 7) % (items // 2) + (items // 2 if u >= users // 2 else 0) for u in range(users)
    }
    for user, item in held_out.items():
        dense[user, item] = 0
    return sp.csr_matrix(dense), held_out


def test_spark_als_ranks_the_planted_groups_as_implicit_does(session, tmp_path):
    scores, held_out = taste_groups()
    coo = scores.tocoo()
    path = parquet(
        tmp_path, "s.parquet",
        spark.scores_parquet(coo.row, coo.col, coo.data, np.zeros(coo.nnz)),
    )  # fmt: skip
    params = als.AlsParams(factors=4, iterations=10, regularization=0.05, half_life_days=0)
    on_spark = spark.fit_als(session, path, params, shape=scores.shape)
    matrix = scores.copy()
    matrix.data = np.log1p(matrix.data)  # what data.confidence gives with no decay
    local = als.fit(matrix, params)
    for model in (on_spark, local):
        top, _ = als.top_n(model, matrix, n=1)
        hits = [top[u, 0] == item for u, item in held_out.items()]
        assert np.mean(hits) > 0.9  # the held-out like of the user's own group comes first
        in_group = [(top[u, 0] < 20) == (u < 40) for u in held_out]
        assert np.mean(in_group) >= 0.9  # and its group's items (chance: half)


def test_held_out_pairs_stay_out_of_spark_training(session, tmp_path):
    scores, _ = taste_groups()
    coo = scores.tocoo()
    held = coo.row == 0  # all of user 0's pairs
    path = parquet(
        tmp_path, "h.parquet",
        spark.scores_parquet(coo.row, coo.col, coo.data, np.zeros(coo.nnz), held),
    )  # fmt: skip
    model = spark.fit_als(session, path, als.AlsParams(factors=4), shape=scores.shape)
    assert not model.user_factors[0].any()  # never seen: zero factors, as implicit would
    assert model.user_factors[1].any()


# ---- the jobs with --engine spark ---------------------------------------------------------


@pytest.fixture
def shop(db, settings, session):
    settings.SPARK_MASTER = "local[2]"  # the module's session
    demo = generate_demo_data(spec=SPEC)
    call_command("update_interactions")
    call_command("publish_catalog")
    return demo


def test_train_market_basket_on_spark_serves_the_same_rules(shop):
    params = basket.BasketParams(min_support=0.005, min_confidence=0.1)
    local = train_market_basket(params=params, engine="local")
    on_spark = train_market_basket(params=params, engine="spark")
    assert on_spark.published
    assert on_spark.data_size["engine"] == "spark"
    assert on_spark.metrics["rules"] == local.metrics["rules"] > 0
    served = artifacts.load(on_spark.artifact_name).rules
    assert rule_set(served) == rule_set(artifacts.load(local.artifact_name).rules)
    assert all(isinstance(i, int) for s in served["antecedents"] for i in s)  # item ids
    assert not artifacts.stored("spark-baskets")  # the staged Parquet went with the run


def test_train_als_model_on_spark_is_gated_published_and_served(shop):
    run = train_als_model(engine="spark")
    assert run.status == ModelRun.Status.SUCCEEDED
    assert run.data_size["engine"] == "spark"
    assert run.metrics["ndcg@10"] > 2 * run.metrics["baseline_ndcg@10"]  # it learnt the groups
    assert run.published
    generate_top_buys()
    user = int(shop.user_ids[0])
    entries = reads.read_top_buys(user_id=user, limit=10)
    own = shop.items_of_group(shop.group_of_user(user))
    assert sum(e.item_id in own for e in entries) >= 8
    assert not artifacts.stored("spark-scores")


def test_a_failing_spark_fit_leaves_the_served_model(shop, monkeypatch):
    served = train_als_model(engine="local")
    assert served.published

    def broken(*args, **kwargs):
        raise RuntimeError("executor lost")

    monkeypatch.setattr(spark, "fit_als", broken)
    with pytest.raises(RuntimeError, match="executor lost"):
        train_als_model(engine="spark", force=True)
    failed = ModelRun.objects.filter(kind="als").first()
    assert failed.status == ModelRun.Status.FAILED
    assert ModelRun.objects.filter(kind="als", published=True).first() == served
    assert not artifacts.stored("spark-scores")


def test_an_unknown_engine_is_refused_before_anything_runs(shop):
    before = ModelRun.objects.count()
    with pytest.raises(ValueError, match="engine must be one of local, spark"):
        engines.chosen("hadoop")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("train_als_model", "--engine", "hadoop")
    assert ModelRun.objects.count() == before


# ---- lists written by the executors ----------------------------------------------------------


def version_keys(version: int) -> list[bytes]:
    return list(store.client().scan_iter(match=store.keys.version_prefix(version) + "*"))


def test_top_buys_written_by_the_executors_are_the_local_lists(shop):
    """generate_top_buys --engine spark: the executors score their partitions and write them
    straight into the new version; every user's list, score and `because` is the one the
    single-machine path writes from the same served model."""
    assert train_als_model(engine="local").published
    users = [int(u) for u in shop.user_ids]
    local = generate_top_buys(engine="local")
    before = {u: reads.read_top_buys(user_id=u, limit=100) for u in users}
    call_command("generate_top_buys", "--engine", "spark")
    on_spark = store.version_meta(store.TOP_BUYS)
    assert on_spark["engine"] == "spark"
    assert on_spark["version"] > local.version
    assert on_spark["lists"] == local.lists == len(users)
    assert on_spark["memory_bytes"] > 0
    same = 0
    for user in users:
        got = reads.read_top_buys(user_id=user, limit=100)
        assert len(got) == len(before[user])
        assert [e.score for e in got] == pytest.approx(
            [e.score for e in before[user]], rel=1e-4, abs=1e-6
        )
        same += [(e.item_id, e.because) for e in got] == [
            (e.item_id, e.because) for e in before[user]
        ]
    assert same >= 0.98 * len(users)  # float ties may swap two neighbours
    assert not artifacts.stored("spark-top-buys-users")


def test_executors_that_cannot_write_leave_the_previous_top_buys_serving(shop, settings):
    assert train_als_model(engine="local").published
    served = generate_top_buys(engine="local")
    user = int(shop.user_ids[0])
    lists = reads.read_top_buys(user_id=user, limit=100)
    settings.SPARK_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # executors see no Redis
    with pytest.raises(Exception, match=r"(?i)connect"):
        generate_top_buys(engine="spark")
    assert store.live_version(store.TOP_BUYS) == served.version
    assert reads.read_top_buys(user_id=user, limit=100) == lists
    assert version_keys(served.version + 1) == []
    assert not artifacts.stored("spark-top-buys-users")


def test_bought_together_on_spark_and_a_partition_that_fails_midway(shop):
    """The executors write the same sorted sets; when one partition fails after others have
    written theirs, nothing is switched and the failed version's keys are deleted."""
    assert train_market_basket(params=basket.BasketParams(min_support=0.005), engine="local")
    local = generate_bought_together(engine="local")
    items = [int(i) for i in shop.item_ids]
    before = {i: reads.read_bought_together(item_id=i, limit=100) for i in items}
    assert sum(map(bool, before.values())) > 10
    on_spark = generate_bought_together(engine="spark")
    assert on_spark.lists == local.lists
    for item in items:
        got = reads.read_bought_together(item_id=item, limit=100)
        assert [e.item_id for e in got] == [e.item_id for e in before[item]]
        assert [e.score for e in got] == pytest.approx([e.score for e in before[item]])
    # the next version's list of one item is already a string: that ZADD fails (WRONGTYPE)
    doomed = next(i for i in items if before[i])
    upcoming = int(store.client().get(store.keys.version_seq())) + 1
    store.client().set(store.keys.list_key(upcoming, store.BOUGHT_TOGETHER, doomed), b"x")
    with pytest.raises(Exception, match="WRONGTYPE"):
        generate_bought_together(engine="spark")
    assert store.live_version(store.BOUGHT_TOGETHER) == on_spark.version
    assert reads.read_bought_together(item_id=doomed, limit=100) == before[doomed]
    assert version_keys(upcoming) == []
    assert not artifacts.stored("spark-bought-together")
