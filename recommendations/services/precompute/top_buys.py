"""`generate_top_buys`: every user's top N from the served top-buys model (ALS or a blend)."""

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.utils import timezone

from recommendations import artifacts, store
from recommendations.ml import blend, neighbours, spark
from recommendations.ml.data import IdIndex, build_matrix
from recommendations.ml.neighbours import ApproximateColumns
from recommendations.ml.scores import ScoreRows
from recommendations.models import Interaction, ModelRun
from recommendations.services import engines, tables
from recommendations.services.precompute import PublishResult
from recommendations.services.progress import log_step, track
from recommendations.services.publish import active_item_ids
from recommendations.services.scores import current_scores
from recommendations.services.sql import INT, fetch_array
from recommendations.services.training.als import positive_scores
from recommendations.services.training.model_runs import load_served


def _not_offered(users: IdIndex, items: IdIndex, rows: ScoreRows) -> sp.csr_matrix:
    """users x items: 1 where the user bought the item (orders or purchase events, as of the
    last update_interactions, from the scores' snapshot) or ever disliked it."""
    disliked = fetch_array(
        f"SELECT user_id, item_id FROM {tables.EVENTS} WHERE kind = %s",
        [Interaction.Kind.DISLIKE],
        types=(INT, INT),
    ).astype(np.int64)
    user_ids = np.concatenate([rows.user_ids[rows.bought], disliked[:, 0]])
    item_ids = np.concatenate([rows.item_ids[rows.bought], disliked[:, 1]])
    matrix = build_matrix(user_ids, item_ids, np.ones(len(user_ids)), users=users, items=items)
    return matrix.user_items


def _inactive(items: IdIndex) -> npt.NDArray[np.int64]:
    """Column indices of items that must not be shown."""
    active = np.fromiter(active_item_ids(), dtype=np.int64)
    return np.flatnonzero(~np.isin(items.ids, active))


def _confidence(rows: ScoreRows, artifact: object) -> sp.csr_matrix:
    """users x items of the served model: the ALS input of every positive pair, as of now."""
    table = positive_scores(rows, users=artifact.users, items=artifact.items)
    return table.matrix(half_life_days=artifact.params.half_life_days)


# users x items scored at once by one executor task (float32: 80 MB)
EXECUTOR_CELLS = 20_000_000


def _write_here(
    publication: store.Publication,
    artifact: object,
    confidence: sp.csr_matrix,
    not_offered: sp.csr_matrix,
    inactive: npt.NDArray[np.int64],
    *,
    n: int,
    index: ApproximateColumns | None,
    batch_users: int,
) -> None:
    """Every user's list scored on this machine, `batch_users` at a time, each batch written
    to Redis by a second thread while the next one is scored (`index`: approximate search)."""
    model = artifact.blended
    with ThreadPoolExecutor(max_workers=1) as writer:
        written = None
        for start in track(
            range(0, len(artifact.users), batch_users), job="generate_top_buys", unit="batches"
        ):
            users = np.arange(start, min(start + batch_users, len(artifact.users)))
            ids, scores = blend.top_n(
                model, confidence, not_offered, n=n, users=users, filter_items=inactive,
                index=index,
            )  # fmt: skip
            item_ids = np.where(ids >= 0, artifact.items.ids[np.maximum(ids, 0)], -1)
            because = blend.explain(model, confidence[users], artifact.items.ids, ids)
            if written is not None:
                written.result()  # one batch in flight at a time; its errors surface here
            written = writer.submit(
                publication.put_rows, artifact.users.ids[users], item_ids, scores, because
            )
        if written is not None:
            written.result()


def _write_on_spark(
    publication: store.Publication,
    artifact: object,
    confidence: sp.csr_matrix,
    not_offered: sp.csr_matrix,
    inactive: npt.NDArray[np.int64],
    *,
    n: int,
) -> None:
    """Every user's list scored and written into `publication`'s version by Spark's
    executors, partition by partition: the users (factors, pairs, items not to offer) leave
    as Parquet through the artifacts storage, the model's item side is broadcast. Any failed
    partition raises here, before anything is switched."""
    session = engines.spark()
    shipped = session.sparkContext.broadcast(blend.item_side(artifact.blended))
    item_ids, source = artifact.items.ids, publication.default_source

    def lists_of(rows: spark.UserRows) -> Iterator[tuple[int, bytes]]:
        model = shipped.value
        top, scores = blend.top_n(
            model, rows.confidence, rows.hidden, n=n, user_factors=rows.factors,
            filter_items=inactive, batch_size=max(64, EXECUTOR_CELLS // len(item_ids)),
        )  # fmt: skip
        because = blend.explain(model, rows.confidence, item_ids, top)
        found = np.where(top >= 0, item_ids[np.maximum(top, 0)], -1)
        return store.packed_rows(rows.owners, found, scores, source, because)

    users = spark.users_parquet(
        artifact.users.ids, artifact.blended.model.user_factors, confidence, not_offered
    )
    try:
        with engines.staged("top-buys-users", users) as path:
            lists, sample = spark.write_user_lists(
                session, path, lists_of, n_items=len(item_ids),
                redis_url=engines.redis_url(),
                template=publication.key_template(spark.OWNER),
                partitions=settings.SPARK_LIST_PARTITIONS,
            )  # fmt: skip
    finally:
        shipped.unpersist()
    publication.written_elsewhere(lists=lists, sample=sample)


def generate_top_buys(
    *,
    n: int | None = None,
    batch_users: int = 10_000,
    run: ModelRun | None = None,
    family: str = store.TOP_BUYS,
    engine: str | None = None,
) -> PublishResult:
    """Every user's top N items from the served top-buys model (or `run`'s, into `family`: an
    experiment variant's lists), bought and disliked items left out.

    Scored and written here (_write_here), or on Spark (`engine`, default the PICKS_ENGINE
    setting) by the executors (_write_on_spark); either way into one new version, switched
    to only when every list is written.
    """
    engine = engines.chosen(engine)
    n = n or settings.PICKS_LIST_LENGTH
    data_as_of = timezone.now()
    if run is None:
        run, artifact = load_served(ModelRun.Kind.ALS)
    else:
        artifact = artifacts.load(run.artifact_name)
    rows = current_scores()
    not_offered = _not_offered(artifact.users, artifact.items, rows)
    confidence = _confidence(rows, artifact)
    inactive = _inactive(artifact.items)
    model = artifact.blended
    index, meta = None, {}
    if (
        engine == "local"
        and model.plain
        and len(artifact.items) > settings.PICKS_EXACT_SCORING_MAX_ITEMS
    ):
        index = ApproximateColumns(model.model.item_factors, blocked=inactive)
        meta = neighbours.probes_for_recall(
            index,
            lambda users: blend.top_n(
                model, confidence, not_offered, n=n, users=users, index=index
            )[0],
            lambda users: blend.top_n(
                model, confidence, not_offered, n=n, users=users, filter_items=inactive
            )[0],
            len(artifact.users),
            target=settings.PICKS_APPROXIMATE_RECALL,
        )
        log_step("generate_top_buys", "approximate", **meta)
    with store.publishing(family) as publication:
        if engine == "spark":
            _write_on_spark(publication, artifact, confidence, not_offered, inactive, n=n)
        else:
            _write_here(
                publication, artifact, confidence, not_offered, inactive, n=n, index=index,
                batch_users=batch_users,
            )  # fmt: skip
        publication.commit(
            built_at=timezone.now().isoformat(), data_as_of=data_as_of.timestamp(),
            source="als", model_run=run.pk, engine=engine,
            method="exact" if index is None else "approximate", **meta,
        )  # fmt: skip
    log_step(
        "generate_top_buys", "published", version=publication.version, lists=publication.lists,
        engine=engine,
    )  # fmt: skip
    return PublishResult(publication.version, publication.lists)
