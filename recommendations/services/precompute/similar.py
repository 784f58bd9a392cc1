"""`generate_similar_items`: collaborative and content neighbours of every item."""

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.utils import timezone

from catalog.models import Item
from recommendations import store
from recommendations.ml import als, content, mf, neighbours
from recommendations.ml.data import IdIndex, unit_rows
from recommendations.models import ModelRun
from recommendations.services.precompute import PublishResult
from recommendations.services.progress import log_step, track
from recommendations.services.publish import active_item_ids
from recommendations.services.training.model_runs import NoServedModel, NoTrainingData, load_served

PUBLISH_BATCH = 1000  # items whose lists are written per batch


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


def generate_similar_items(
    *, n: int | None = None, content_weight: float = 0.5, exact_up_to: int | None = None
) -> PublishResult:
    """`product:{id}:similar`: collaborative and content similarity blended; content alone for
    items without events. Every pair is compared up to `exact_up_to` active items (setting
    PICKS_SIMILAR_EXACT_MAX_ITEMS); above, approximate neighbours, their recall against the
    exact ones measured on a sample and kept in the version's metadata."""
    if not 0 <= content_weight <= 1:
        raise ValueError("content_weight must be in [0, 1]")
    n = n or settings.PICKS_LIST_LENGTH
    exact_up_to = settings.PICKS_SIMILAR_EXACT_MAX_ITEMS if exact_up_to is None else exact_up_to
    items = IdIndex.of(np.fromiter(active_item_ids(), np.int64))
    if len(items) < 2:
        raise NoTrainingData("fewer than two active items")
    try:
        factors, has = _collaborative_vectors(items)
    except NoServedModel:
        factors, has = np.zeros((len(items), 1), np.float32), np.zeros(len(items), bool)
    space = neighbours.ItemSpace(_content_vectors(items), factors, has, content_weight)
    n = min(n, len(items) - 1)
    blend_code, content_code = (
        store.codec.source_code("similar"),
        store.codec.source_code("content"),
    )
    meta: dict[str, object] = {"method": "exact"}
    if len(items) <= exact_up_to:
        batches = neighbours.exact(space, n=n)
    else:
        found, found_sims = neighbours.approximate(space, n=n)
        meta = {"method": "approximate", **_sampled_recall(space, found, n=n)}
        batches = (
            (rows, found[rows], found_sims[rows])
            for rows in np.array_split(np.arange(len(items)), -(-len(items) // PUBLISH_BATCH))
        )
    with store.publishing(store.SIMILAR) as publication:
        for rows, best, sims in track(
            batches,
            job="generate_similar_items",
            total=-(-len(items) // PUBLISH_BATCH),
            unit="batches",
        ):
            sources = np.where(
                has[rows][:, None] & has[np.maximum(best, 0)], blend_code, content_code
            )
            publication.put_rows(
                items.ids[rows], np.where(best >= 0, items.ids[np.maximum(best, 0)], -1), sims,
                sources=sources,
            )  # fmt: skip
        publication.commit(built_at=timezone.now().isoformat(), source="similar", **meta)
    log_step(
        "generate_similar_items", "published", version=publication.version,
        lists=publication.lists, **meta,
    )  # fmt: skip
    return PublishResult(publication.version, publication.lists)


def _sampled_recall(space: neighbours.ItemSpace, found: np.ndarray, *, n: int) -> dict:
    """The approximate neighbours' recall of the exact ones on a random sample of items."""

    def exact(rows: np.ndarray) -> np.ndarray:
        return np.concatenate([best for _, best, _ in neighbours.exact(space, n=n, rows=rows)])

    return neighbours.sampled_recall(lambda rows: found[rows], exact, len(space), sample=500)
