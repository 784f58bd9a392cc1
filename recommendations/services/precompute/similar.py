"""`generate_similar_items`: collaborative and content neighbours of every item."""

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.utils import timezone

from catalog.models import Item
from recommendations import store
from recommendations.ml import als, content, mf
from recommendations.ml.data import IdIndex, top_k_of_products, unit_rows
from recommendations.models import ModelRun
from recommendations.services.precompute import PublishResult
from recommendations.services.progress import log_step, track
from recommendations.services.publish import active_item_ids
from recommendations.services.training.model_runs import NoServedModel, NoTrainingData, load_served


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
    items have one. A served bias model has no item vectors to compare: NoServedModel."""
    try:
        _, artifact = load_served(ModelRun.Kind.ALS)
        source_items, factors = artifact.items, als.item_vectors(artifact.model)
    except NoServedModel:
        _, artifact = load_served(ModelRun.Kind.MF)
        if artifact.model.params.is_bias_model:
            raise NoServedModel("the served swipe model is the bias model: no factors") from None
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

    def blended(rows: np.ndarray, sims: np.ndarray) -> np.ndarray:
        """Content similarity, blended with the collaborative one where both items have it."""
        both = has[rows][:, None] & has[None, :]
        cf = factors[rows] @ factors.T
        sims = np.where(both, content_weight * sims + (1 - content_weight) * cf, sims)
        sims[np.arange(len(rows)), rows] = -np.inf
        return sims

    batches = top_k_of_products(text, text, k=n, adjust=blended)
    with store.publishing(store.SIMILAR) as publication:
        for rows, best, sims in track(
            batches, job="generate_similar_items", total=-(-len(items) // 1000), unit="batches"
        ):
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
