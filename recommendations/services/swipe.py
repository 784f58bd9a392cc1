"""The swipe half: the PyTorch MF model, decks, similar items and the embeddings in Redis."""

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.utils import timezone
from scipy.special import expit

from catalog.models import Item
from recommendations import artifacts, store
from recommendations.ml import als, content, diversity, mf
from recommendations.ml.data import IdIndex, build_matrix, holdout_mask, top_k, unit_rows
from recommendations.ml.evaluate import ranking_metrics
from recommendations.models import Interaction, ModelRun
from recommendations.services.lists import PublishResult
from recommendations.services.progress import log_step, track
from recommendations.services.publish import active_item_ids
from recommendations.services.sql import FLOAT, INT, fetch_array
from recommendations.services.training import (
    EVALUATED_USERS,
    NoServedModel,
    NoTrainingData,
    apply_gate,
    load_served_als,
    record_run,
    rival_params,
    served_run,
)

MF_GATE_METRIC = "auc"


@dataclass(frozen=True)
class MfArtifact:
    model: mf.MfModel
    users: IdIndex
    items: IdIndex


@dataclass(frozen=True)
class Swipes:
    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]
    targets: npt.NDArray[np.float32]


def load_swipes(*, ratings: bool) -> Swipes:
    """Likes (1) and dislikes (0); or, with `ratings`, every event that carries a value."""
    if ratings:
        sql = (
            "SELECT user_id, item_id, value FROM recommendations_interaction "
            "WHERE value IS NOT NULL"
        )
        array = fetch_array(sql, types=(INT, INT, FLOAT))
    else:
        sql = (
            "SELECT user_id, item_id, CASE WHEN kind = %s THEN 1 ELSE 0 END "
            "FROM recommendations_interaction WHERE kind IN (%s, %s)"
        )
        kinds = [Interaction.Kind.LIKE, Interaction.Kind.LIKE, Interaction.Kind.DISLIKE]
        array = fetch_array(sql, kinds, types=(INT, INT, FLOAT))
    if not len(array):
        raise NoTrainingData("no swipes (or ratings) logged yet")
    return Swipes(
        array[:, 0].astype(np.int64), array[:, 1].astype(np.int64), array[:, 2].astype(np.float32)
    )


def _ranking(model: mf.MfModel, train: tuple, test: tuple, n_items: int, k: int = 10) -> dict:
    """P/R/nDCG@k of the MF scores on held-out likes, training swipes filtered out, over at
    most EVALUATED_USERS users (a seeded sample), scored in batches."""
    (tu, ti, _), (su, si, sy) = train, test
    users = np.unique(su[sy > 0])
    if not len(users):
        return {}
    if len(users) > EVALUATED_USERS:
        users = np.sort(np.random.default_rng(0).choice(users, EVALUATED_USERS, replace=False))
    user_vectors, item_vectors = mf.embeddings(model)
    all_items = IdIndex(np.arange(n_items))
    seen = build_matrix(tu, ti, np.ones(len(tu)), users=IdIndex(np.arange(len(user_vectors))),
                        items=all_items).user_items  # fmt: skip
    top = np.empty((len(users), k), dtype=np.int64)
    for start in range(0, len(users), 1000):
        rows = users[start : start + 1000]
        scores = user_vectors[rows] @ item_vectors.T
        scores[seen[rows].nonzero()] = -np.inf
        top[start : start + len(rows)] = top_k(scores, k)
    likes = (sy > 0) & np.isin(su, users)
    truth = build_matrix(su[likes], si[likes], np.ones(likes.sum()), users=IdIndex(users),
                         items=all_items).user_items  # fmt: skip
    return ranking_metrics(top, truth, k=k)


def fit_and_score(
    u: npt.NDArray[np.int64],
    i: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float32],
    test: npt.NDArray[np.bool_],
    *,
    n_users: int,
    n_items: int,
    params: mf.MfParams,
    explicit: bool,
) -> tuple[mf.MfModel, dict[str, float]]:
    """MF fitted on the rows not in `test`, and its metrics on those in it: AUC, log-loss and
    P/R/nDCG@10 for swipes; MAE/RMSE beside the training mean's for ratings."""
    model = mf.fit(
        u[~test], i[~test], targets[~test], n_users=n_users, n_items=n_items,
        params=params, explicit=explicit,
        on_epoch=lambda r: log_step("train_mf_model", "epoch", **r),
    )  # fmt: skip
    predicted = mf.predict(model, u[test], i[test])
    if explicit:
        return model, mf.rating_metrics(
            targets[test], predicted, train_mean=float(targets[~test].mean())
        )
    return model, {
        **mf.classification_metrics(targets[test], predicted),
        **_ranking(
            model, (u[~test], i[~test], targets[~test]), (u[test], i[test], targets[test]), n_items
        ),
    }


def train_mf_model(
    *,
    params: mf.MfParams | None = None,
    ratings: bool = False,
    force: bool = False,
    tolerance: float = 0.0,
    test_fraction: float = 0.2,
) -> ModelRun:
    """Train on swipes, score held-out swipes (AUC, log-loss, P/R/nDCG@10; MAE/RMSE for
    ratings), then continue on all swipes; publish the model and its embeddings if not worse.

    The ratings model is a kind of its own (and its embeddings a family of their own): it never
    competes with, or replaces, the swipe model that the decks and `predict` use.
    """
    params = params or mf.MfParams()
    swipes = load_swipes(ratings=ratings)
    users = IdIndex.of(swipes.user_ids)
    items = IdIndex.of(np.concatenate([swipes.item_ids, np.fromiter(active_item_ids(), np.int64)]))
    u, i = users.index_of(swipes.user_ids), items.index_of(swipes.item_ids)
    kind = ModelRun.Kind.RATINGS if ratings else ModelRun.Kind.MF
    run = ModelRun.objects.create(kind=kind, params=params.as_dict())
    metric = "rmse" if ratings else MF_GATE_METRIC

    def scored(fit_params: mf.MfParams, test: np.ndarray) -> tuple[mf.MfModel, dict]:
        return fit_and_score(
            u, i, swipes.targets, test,
            n_users=len(users), n_items=len(items), params=fit_params, explicit=ratings,
        )  # fmt: skip

    def work(run: ModelRun) -> None:
        test = holdout_mask(u, test_fraction=test_fraction, seed=params.seed)
        model, run.metrics = scored(params, test)
        rival = None if force else rival_params(kind, params)
        rival_score = scored(rival, test)[1][metric] if rival is not None else None
        run.metrics["epochs"] = len(model.history)
        run.data_size = {
            "users": len(users),
            "items": len(items),
            "swipes": len(u),
            "held_out": int(test.sum()),
        }
        # A warm start: a few epochs over all swipes, not a second training from scratch.
        refit = dataclasses.replace(params, epochs=max(1, len(model.history) // 4))
        final = mf.fit(
            u, i, swipes.targets, n_users=len(users), n_items=len(items),
            params=refit, explicit=ratings, init=model,
        )  # fmt: skip
        run.artifact_name = artifacts.save(kind=kind, obj=MfArtifact(final, users, items))
        apply_gate(
            run,
            force=force,
            tolerance=tolerance,
            rival_score=rival_score,
            metric=metric,
            higher_is_better=not ratings,
        )
        if run.published:
            family = store.RATINGS if ratings else store.MF
            publish_embeddings(final, users, items, run_id=run.pk, family=family)

    return record_run(run, work)


def publish_embeddings(
    model: mf.MfModel, users: IdIndex, items: IdIndex, *, run_id: int, family: str = store.MF
) -> None:
    """User and item vectors into Redis: a like-probability (or rating) is one dot product
    away."""
    user_vectors, item_vectors = mf.embeddings(model)
    with store.publishing(family) as publication:
        publication.put_vectors("user", users.ids, user_vectors)
        publication.put_vectors("item", items.ids, item_vectors)
        publication.commit(
            built_at=timezone.now().isoformat(), model_run=run_id, explicit=model.explicit
        )


def load_served_mf() -> tuple[ModelRun, MfArtifact]:
    run = served_run(ModelRun.Kind.MF)
    if run is None:
        raise NoServedModel("no MF model is published: run train_mf_model first")
    return run, artifacts.load(run.artifact_name)


def _seen(users: IdIndex, items: IdIndex) -> sp.csr_matrix:
    """users x items: swiped or bought (never shown in a deck again)."""
    pairs = fetch_array(
        "SELECT user_id, item_id FROM recommendations_interaction WHERE kind IN (%s, %s, %s) "
        "UNION ALL SELECT o.customer_id, l.item_id FROM recommendations_orderline l "
        "JOIN recommendations_order o ON o.id = l.order_id WHERE o.customer_id IS NOT NULL",
        [Interaction.Kind.LIKE, Interaction.Kind.DISLIKE, Interaction.Kind.PURCHASE],
        types=(INT, INT),
    ).astype(np.int64)
    return build_matrix(
        pairs[:, 0], pairs[:, 1], np.ones(len(pairs)), users=users, items=items
    ).user_items


def item_clusters(items: IdIndex) -> npt.NDArray[np.int64]:
    """A near-duplicate cluster per item: same category, brand and colour."""
    rows = Item.objects.filter(pk__in=items.ids.tolist()).values_list(
        "pk", "category_id", "brand", "colour"
    )
    keys = {pk: (category, brand.lower(), colour.lower()) for pk, category, brand, colour in rows}
    codes: dict[tuple, int] = {}
    return np.array(
        [codes.setdefault(keys.get(int(pk), ("?", "?", "?")), len(codes)) for pk in items.ids],
        dtype=np.int64,
    )


def _exploration_pool(
    probs: npt.NDArray[np.float32], never_swiped: npt.NDArray[np.int64], *, size: int
) -> npt.NDArray[np.int64]:
    """Unseen items the model is least sure about (p nearest 0.5), and items nobody swiped."""
    candidates = np.flatnonzero(probs >= 0)
    distance = np.abs(probs[candidates] - 0.5)
    size = min(size, len(candidates))
    unsure = candidates[np.argpartition(distance, size - 1)[:size]] if size else candidates
    fresh = never_swiped[probs[never_swiped] >= 0]
    return np.union1d(unsure, fresh)


def generate_decks(
    *, n: int | None = None, explore_share: float = 0.1, seed: int = 0, batch_users: int = 1000
) -> PublishResult:
    """Every swiper's next `n` unseen items by like-probability, diversified, with exploration."""
    if not 0 <= explore_share < 1:
        raise ValueError("explore_share must be in [0, 1)")
    n = n or settings.PICKS_LIST_LENGTH
    run, artifact = load_served_mf()
    user_vectors, item_vectors = mf.embeddings(artifact.model)
    seen = _seen(artifact.users, artifact.items)
    blocked = ~np.isin(artifact.items.ids, np.fromiter(active_item_ids(), np.int64))
    clusters = item_clusters(artifact.items)
    never_swiped = np.flatnonzero(np.asarray(seen.sum(axis=0)).ravel() == 0)
    rng = np.random.default_rng(seed)
    explore_code, mf_code = store.codec.source_code("explore"), store.codec.source_code("mf")
    with store.publishing(store.DECK) as publication:
        for start in track(
            range(0, len(user_vectors), batch_users), job="generate_decks", unit="batches"
        ):
            rows = np.arange(start, min(start + batch_users, len(user_vectors)))
            probs = expit(user_vectors[rows] @ item_vectors.T).astype(np.float32)
            probs[:, blocked] = -1
            probs[seen[rows].nonzero()] = -1
            width = min(3 * n, probs.shape[1])
            candidates = top_k(probs, width)
            for r, user_row in enumerate(rows):
                ranked = candidates[r][probs[r, candidates[r]] >= 0]
                pool = _exploration_pool(probs[r], never_swiped, size=2 * n)
                head, explored = diversity.explore(ranked[:n], pool, share=explore_share, rng=rng)
                ranked = np.concatenate([head, ranked[n:][~np.isin(ranked[n:], head)]])
                explored = np.concatenate([explored, np.zeros(len(ranked) - len(explored), bool)])
                picked = diversity.diversify(clusters[ranked], n=n)
                deck, explored = ranked[picked], explored[picked]
                publication.put(
                    int(artifact.users.ids[user_row]),
                    artifact.items.ids[deck],
                    probs[r, deck],
                    np.where(explored, explore_code, mf_code),
                )
        publication.commit(built_at=timezone.now().isoformat(), source="mf", model_run=run.pk)
    log_step("generate_decks", "published", version=publication.version, lists=publication.lists)
    return PublishResult(publication.version, publication.lists)


def _content_vectors(items: IdIndex) -> sp.csr_matrix:
    rows = {
        pk: row
        for pk, *row in Item.objects.filter(pk__in=items.ids.tolist()).values_list(
            "pk", "category__name", "brand", "colour", "price", "title", "description"
        )
    }
    fields = [rows[int(pk)] for pk in items.ids]
    return content.item_vectors(
        categories=[str(f[0] or "") for f in fields],
        brands=[f[1].lower() for f in fields],
        colours=[f[2].lower() for f in fields],
        prices=[float(f[3]) for f in fields],
        texts=[f"{f[4]} {f[5]}" for f in fields],
    )


def _collaborative_vectors(items: IdIndex) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Unit item vectors from the served ALS model (else MF), aligned to `items`; and which
    items have one."""
    try:
        _, artifact = load_served_als()
        source_items, factors = artifact.items, als.item_vectors(artifact.model)
    except NoServedModel:
        _, artifact = load_served_mf()
        source_items, factors = artifact.items, unit_rows(mf.embeddings(artifact.model)[1])
    index = source_items.index_of(items.ids)
    has = index >= 0
    out = np.zeros((len(items), factors.shape[1]), dtype=np.float32)
    out[has] = factors[index[has]]
    return out, has


def generate_similar_items(*, n: int | None = None, content_weight: float = 0.5) -> PublishResult:
    """`product:{id}:similar`: collaborative and content similarity blended; content alone for
    items without events."""
    if not 0 <= content_weight <= 1:
        raise ValueError("content_weight must be in [0, 1]")
    n = n or settings.PICKS_LIST_LENGTH
    items = IdIndex.of(np.fromiter(active_item_ids(), np.int64))
    if len(items) < 2:
        raise NoTrainingData("fewer than two active items")
    text = _content_vectors(items)
    try:
        factors, has = _collaborative_vectors(items)
    except NoServedModel:
        factors, has = np.zeros((len(items), 1), np.float32), np.zeros(len(items), bool)
    n = min(n, len(items) - 1)
    blend_code, content_code = (
        store.codec.source_code("similar"),
        store.codec.source_code("content"),
    )
    with store.publishing(store.SIMILAR) as publication:
        for start in track(
            range(0, len(items), 1000), job="generate_similar_items", unit="batches"
        ):
            rows = np.arange(start, min(start + 1000, len(items)))
            sims = np.asarray((text[rows] @ text.T).todense(), dtype=np.float32)
            both = has[rows][:, None] & has[None, :]
            cf = factors[rows] @ factors.T
            sims = np.where(both, content_weight * sims + (1 - content_weight) * cf, sims)
            sims[np.arange(len(rows)), rows] = -np.inf
            best = top_k(sims, n)
            for r, row in enumerate(rows):
                publication.put(
                    int(items.ids[row]),
                    items.ids[best[r]],
                    sims[r, best[r]],
                    np.where(has[row] & has[best[r]], blend_code, content_code),
                )
        publication.commit(built_at=timezone.now().isoformat(), source="similar")
    log_step(
        "generate_similar_items", "published", version=publication.version, lists=publication.lists
    )
    return PublishResult(publication.version, publication.lists)
