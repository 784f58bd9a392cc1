"""Apache Spark (MLlib) as the engine of the two models it shares with the single-machine
path: implicit-feedback ALS and FP-Growth with association rules.

Input arrives as Parquet (written once per run by the job, through the configured storage),
so executors never query the database. What comes back has the single-machine shapes: ALS
factors inside implicit's model object (the gate, fold-in, explanations and publishing stay
as they are) and an mlxtend-shaped rules frame. Per-user and per-item lists can be written to
Redis by the executors themselves, partition by partition, into a version the driver's job
switches to only when every partition succeeded. No Django here; the session is made once
per process and kept.
"""

import io
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares

from recommendations.ml import als, basket

_sessions: dict[str, object] = {}


def session(master: str, *, shuffle_partitions: int = 8, driver_memory: str = "2g") -> object:
    """A SparkSession on `master` ("local[*]", "spark://host:7077"), made once per process."""
    if master not in _sessions:
        from pyspark.sql import SparkSession

        # Python workers (lists written by executors) run this interpreter and import this
        # project; on a cluster the executors' image provides both.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        root = str(Path(__file__).resolve().parents[2])
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if root not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])

        # py4j logs every closed connection at INFO, even from finalizers at exit
        logging.getLogger("py4j").setLevel(logging.WARNING)
        _sessions[master] = (
            SparkSession.builder.master(master)
            .appName("picks")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            .config("spark.driver.memory", driver_memory)
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            # FP-Growth recurses once per item of a basket's path in its tree: invoices of a
            # few hundred lines overflow the JVM's default thread stack
            .config("spark.driver.extraJavaOptions", "-Xss64m")
            .config("spark.executor.extraJavaOptions", "-Xss64m")
            .getOrCreate()
        )
        _sessions[master].sparkContext.setLogLevel("ERROR")
    return _sessions[master]


def stop_sessions() -> None:
    """Stop every session this process made."""
    for spark in _sessions.values():
        spark.stop()
    _sessions.clear()


def scores_parquet(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float64],
    age_days: npt.NDArray[np.float64],
    held_out: npt.NDArray[np.bool_] | None = None,
) -> bytes:
    """A run's aggregated pairs (user and item indices, score, age in days, whether held out
    for the gate) as Parquet bytes: what a job stores once for the executors."""
    frame = pd.DataFrame(
        {
            "user": np.asarray(rows, np.int32),
            "item": np.asarray(cols, np.int32),
            "score": np.asarray(scores, np.float64),
            "age_days": np.asarray(age_days, np.float64),
            "held_out": np.zeros(len(rows), bool) if held_out is None else held_out,
        }
    )
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


def baskets_parquet(baskets: Sequence[Sequence[object]]) -> bytes:
    """One row per basket, its distinct items as strings, as Parquet bytes."""
    frame = pd.DataFrame({"items": [sorted({str(item) for item in b}) for b in baskets]})
    out = io.BytesIO()
    frame.to_parquet(out, index=False)
    return out.getvalue()


def fit_als(
    spark: object,
    path: str,
    params: als.AlsParams,
    *,
    shape: tuple[int, int],
    with_held_out: bool = False,
) -> AlternatingLeastSquares:
    """Spark's implicit-preference ALS on the pairs Parquet at `path` (see scores_parquet;
    the held-out ones left out unless `with_held_out`), each pair's input the same as
    data.confidence gives: log(1 + score) halved every half_life_days of age. Its factors come
    back in an implicit model of `shape` users x items (users or items Spark never saw keep
    zero factors)."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    frame = spark.read.parquet(path)
    if not with_held_out:
        frame = frame.filter(~F.col("held_out"))
    value = F.log1p(F.greatest(F.col("score"), F.lit(0.0)))
    if params.half_life_days > 0:
        age = F.greatest(F.col("age_days"), F.lit(0.0))
        value = value * F.pow(F.lit(2.0), -age / F.lit(params.half_life_days))
    frame = frame.select("user", "item", value.cast("float").alias("value")).filter("value > 0")
    # MLlib multiplies regParam by each user's (item's) number of pairs; implicit does not.
    # Divided by the mean number per user, the parameters tuned for implicit mean about the
    # same here.
    counts = frame.agg(F.count("*").alias("pairs"), F.countDistinct("user").alias("users"))
    pairs, users = counts.first()
    model = ALS(
        rank=params.factors,
        maxIter=params.iterations,
        regParam=params.regularization / max(pairs / max(users, 1), 1.0),
        alpha=params.alpha,
        implicitPrefs=True,
        userCol="user",
        itemCol="item",
        ratingCol="value",
        seed=params.seed,
        coldStartStrategy="drop",
    ).fit(frame)
    out = als.unfitted(params)
    out.user_factors = _factors(model.userFactors, shape[0], params.factors)
    out.item_factors = _factors(model.itemFactors, shape[1], params.factors)
    return out


def _factors(frame: object, rows: int, rank: int) -> npt.NDArray[np.float32]:
    """Spark's (id, features) factor frame as a dense rows x rank array."""
    local = frame.toPandas()
    out = np.zeros((rows, rank), np.float32)
    if len(local):
        out[local["id"].to_numpy()] = np.stack(local["features"].to_numpy()).astype(np.float32)
    return out


def mine(
    spark: object,
    path: str,
    params: basket.BasketParams,
    *,
    n_baskets: int,
    labels: dict[str, object] | None = None,
) -> basket.Rules:
    """FP-Growth and association rules (one item on the right, as mlxtend's path keeps) on the
    baskets Parquet at `path` (see baskets_parquet), in the shapes basket.mine returns; item
    labels mapped back through `labels` (str -> the basket's own item), else strings."""
    from pyspark.ml.fpm import FPGrowth

    params.check()
    model = FPGrowth(
        itemsCol="items", minSupport=params.min_support, minConfidence=params.min_confidence
    ).fit(spark.read.parquet(path))
    itemsets = model.freqItemsets.toPandas()
    itemsets = pd.DataFrame(
        {
            "support": itemsets["freq"].to_numpy() / n_baskets,
            "itemsets": [_labelled(items, labels) for items in itemsets["items"]],
        }
    )
    rules = model.associationRules.toPandas()
    rules = pd.DataFrame(
        {
            "antecedents": [_labelled(a, labels) for a in rules["antecedent"]],
            "consequents": [_labelled(c, labels) for c in rules["consequent"]],
            "support": rules["support"].to_numpy(),
            "confidence": rules["confidence"].to_numpy(),
            "lift": rules["lift"].to_numpy(),
        }
    )
    if params.max_len is not None:
        itemsets = itemsets[itemsets["itemsets"].map(len) <= params.max_len]
        size = rules["antecedents"].map(len) + 1
        rules = rules[size <= params.max_len]
    rules = rules[rules["lift"] >= params.min_lift].reset_index(drop=True)
    return basket.Rules(itemsets.reset_index(drop=True), rules, n_baskets)


def _labelled(items: Sequence[str], labels: dict[str, object] | None) -> frozenset:
    return frozenset(items if labels is None else (labels[item] for item in items))


# ---- lists written by the executors ----------------------------------------------------------

OWNER = "{owner}"  # where a list's owner goes in the key template the driver hands out


@dataclass(frozen=True)
class UserRows:
    """A batch of users as an executor gets them: ids, model factors (one row each), their
    weighted pairs and the items not to offer them (rows x items)."""

    owners: npt.NDArray[np.int64]
    factors: npt.NDArray[np.float32]
    confidence: sp.csr_matrix
    hidden: sp.csr_matrix


def users_parquet(
    owners: npt.NDArray[np.int64],
    factors: npt.NDArray[np.float32],
    confidence: sp.csr_matrix,
    hidden: sp.csr_matrix,
) -> bytes:
    """UserRows of every user as Parquet bytes (CSR rows as list columns, no Python loop)."""
    factors = np.ascontiguousarray(factors, np.float32)
    confidence, hidden = confidence.tocsr(), hidden.tocsr()

    def lists(matrix: sp.csr_matrix, values: npt.NDArray) -> pa.ListArray:
        return pa.ListArray.from_arrays(pa.array(matrix.indptr.astype(np.int32)), pa.array(values))

    table = pa.table(
        {
            "owner": pa.array(np.asarray(owners, np.int64)),
            "factors": pa.FixedSizeListArray.from_arrays(
                pa.array(factors.ravel()), factors.shape[1]
            ),
            "items": lists(confidence, confidence.indices.astype(np.int32)),
            "weights": lists(confidence, confidence.data.astype(np.float32)),
            "hidden": lists(hidden, hidden.indices.astype(np.int32)),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _user_rows(batch: pa.RecordBatch, n_items: int) -> UserRows:
    def csr(column: str, values: npt.NDArray | None = None) -> sp.csr_matrix:
        array = batch.column(column)
        offsets = array.offsets.to_numpy()
        indptr = offsets - offsets[0]
        cols = array.flatten().to_numpy()
        data = np.ones(len(cols), np.float32) if values is None else values
        return sp.csr_matrix((data, cols, indptr), shape=(batch.num_rows, n_items))

    factors = batch.column("factors")
    weights = batch.column("weights").flatten().to_numpy()
    return UserRows(
        owners=batch.column("owner").to_numpy(),
        factors=factors.flatten().to_numpy().reshape(batch.num_rows, -1),  # Spark: array<float>
        confidence=csr("items", weights),
        hidden=csr("hidden"),
    )


WRITTEN = "written long, sample string"  # one row per executor batch: lists, '\n'-joined keys


def write_user_lists(
    spark: object,
    path: str,
    lists_of: Callable[[UserRows], Iterable[tuple[int, bytes]]],
    *,
    n_items: int,
    redis_url: str,
    template: str,
    partitions: int,
    batch_keys: int = 2000,
    sample: int = 8,
) -> tuple[int, list[str]]:
    """Each partition of the users Parquet at `path` (see users_parquet) turned into lists by
    `lists_of` ((owner, stored value) pairs) on the executors, and written from there into
    Redis at `redis_url`, `batch_keys` keys per MSET, under `template` (OWNER marks the
    owner): the driver never holds them. Returns how many lists were written and a few of
    their keys. A partition that fails fails the whole call (after Spark's retries, which
    rewrite the same keys), so the caller switches nothing."""
    frame = spark.read.parquet(path).repartition(partitions)

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import redis

        client = redis.Redis.from_url(redis_url)
        for batch in batches:
            written, pending, kept = 0, {}, []
            if not batch.num_rows:
                continue
            for owner, value in lists_of(_user_rows(batch, n_items)):
                key = template.replace(OWNER, str(owner))
                pending[key] = value
                if len(kept) < sample:
                    kept.append(key)
                if len(pending) >= batch_keys:
                    client.mset(pending)
                    written, pending = written + len(pending), {}
            if pending:
                client.mset(pending)
                written += len(pending)
            yield pa.RecordBatch.from_pydict({"written": [written], "sample": ["\n".join(kept)]})

    rows = frame.mapInArrow(write, WRITTEN).collect()
    keys = [key for row in rows if row["sample"] for key in row["sample"].split("\n")]
    return sum(row["written"] for row in rows), keys


def sorted_sets_parquet(rows: Sequence[tuple[int, int, float]]) -> bytes:
    """(owner, member, score) rows as Parquet bytes: what write_sorted_sets reads."""
    owners, members, scores = zip(*rows, strict=True) if rows else ((), (), ())
    table = pa.table(
        {
            "owner": pa.array(owners, pa.int64()),
            "member": pa.array(members, pa.int64()),
            "score": pa.array(scores, pa.float64()),
        }
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def write_sorted_sets(
    spark: object,
    path: str,
    *,
    redis_url: str,
    template: str,
    partitions: int,
    batch_keys: int = 2000,
) -> None:
    """The (owner, member, score) rows of the Parquet at `path` written as one sorted set per
    owner from the executors (ZADD, `batch_keys` per pipeline), under `template`. A failing
    partition fails the call."""
    frame = spark.read.parquet(path).repartition(partitions, "owner")

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import redis

        client = redis.Redis.from_url(redis_url)
        for batch in batches:
            pipe, queued = client.pipeline(transaction=False), 0
            table = batch.to_pydict()
            for owner, member, score in zip(
                table["owner"], table["member"], table["score"], strict=True
            ):
                pipe.zadd(template.replace(OWNER, str(owner)), {member: score})
                queued += 1
                if queued >= batch_keys:
                    pipe.execute()
                    queued = 0
            pipe.execute()
            yield pa.RecordBatch.from_pydict({"written": [batch.num_rows], "sample": [""]})

    frame.mapInArrow(write, WRITTEN).collect()
