"""`generate_top_buys`: every user's top N from the served top-buys model (ALS or a blend)."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.utils import timezone

from recommendations import artifacts, store
from recommendations.ml import blend, foldin, neighbours
from recommendations.ml.data import IdIndex, build_matrix
from recommendations.ml.neighbours import ApproximateColumns
from recommendations.ml.scores import ScoreRows
from recommendations.models import Interaction, ModelRun
from recommendations.services import tables
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


def explain(
    model: blend.Blend,
    confidence: sp.csr_matrix,
    item_ids: npt.NDArray[np.int64],
    top: npt.NDArray,
) -> npt.NDArray[np.int64]:
    """users x n: the item id of each user's pair that adds most to each entry's score (0 for
    none): its nearest bought item where the blend has item-item neighbours, else the largest
    share of its ALS score. `top` holds item indices, -1 padding."""
    if model.similarity is not None:
        best = blend.item_contributors(model.similarity, confidence, top)
    else:
        best = foldin.als_contributors(model.model, confidence, top)
    return np.where(best >= 0, item_ids[np.maximum(best, 0)], 0)


def generate_top_buys(
    *,
    n: int | None = None,
    batch_users: int = 10_000,
    run: ModelRun | None = None,
    family: str = store.TOP_BUYS,
) -> PublishResult:
    """Every user's top N items from the served top-buys model (or `run`'s, into `family`: an
    experiment variant's lists), bought and disliked items left out.

    A batch of users is written to Redis by a second thread while the next one is scored.
    """
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
    if model.plain and len(artifact.items) > settings.PICKS_EXACT_SCORING_MAX_ITEMS:
        index = ApproximateColumns(model.model.item_factors, blocked=inactive)
        meta = neighbours.sampled_recall(
            lambda users: blend.top_n(
                model, confidence, not_offered, n=n, users=users, index=index
            )[0],
            lambda users: blend.top_n(
                model, confidence, not_offered, n=n, users=users, filter_items=inactive
            )[0],
            len(artifact.users),
        )
        log_step("generate_top_buys", "approximate", **meta)
    with (
        store.publishing(family) as publication,
        ThreadPoolExecutor(max_workers=1) as writer,
    ):
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
            because = explain(model, confidence[users], artifact.items.ids, ids)
            if written is not None:
                written.result()  # one batch in flight at a time; its errors surface here
            written = writer.submit(
                publication.put_rows, artifact.users.ids[users], item_ids, scores, because
            )
        if written is not None:
            written.result()
        publication.commit(
            built_at=timezone.now().isoformat(), data_as_of=data_as_of.timestamp(),
            source="als", model_run=run.pk,
            method="exact" if index is None else "approximate", **meta,
        )  # fmt: skip
    log_step("generate_top_buys", "published", version=publication.version, lists=publication.lists)
    return PublishResult(publication.version, publication.lists)
