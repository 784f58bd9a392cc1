"""`generate_decks`: every swiper's deck from the MF model, diverse, with exploration."""

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.utils import timezone
from scipy.special import expit

from catalog.models import Item
from recommendations import store
from recommendations.ml import diversity, mf
from recommendations.ml.data import IdIndex, build_matrix, top_k_of_products
from recommendations.models import Interaction, ModelRun
from recommendations.services import tables
from recommendations.services.precompute import PublishResult
from recommendations.services.progress import log_step, track
from recommendations.services.publish import active_item_ids
from recommendations.services.sql import INT, fetch_array
from recommendations.services.training.model_runs import load_served


def _seen(users: IdIndex, items: IdIndex) -> sp.csr_matrix:
    """users x items: swiped or bought (never shown in a deck again)."""
    pairs = fetch_array(
        f"SELECT user_id, item_id FROM {tables.EVENTS} WHERE kind IN (%s, %s, %s) "
        f"UNION ALL SELECT o.customer_id, l.item_id FROM {tables.LINES} l "
        f"JOIN {tables.ORDERS} o ON o.id = l.order_id WHERE o.customer_id IS NOT NULL",
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
    run, artifact = load_served(ModelRun.Kind.MF)
    user_vectors, item_vectors = mf.embeddings(artifact.model)
    seen = _seen(artifact.users, artifact.items)
    blocked = ~np.isin(artifact.items.ids, np.fromiter(active_item_ids(), np.int64))
    clusters = item_clusters(artifact.items)
    never_swiped = np.flatnonzero(np.asarray(seen.sum(axis=0)).ravel() == 0)
    rng = np.random.default_rng(seed)
    explore_code, mf_code = store.codec.source_code("explore"), store.codec.source_code("mf")

    def probabilities(rows: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """Like-probabilities, -1 for items that must not be shown (inactive or seen)."""
        probs = expit(logits)
        probs[:, blocked] = -1
        probs[seen[rows].nonzero()] = -1
        return probs

    with store.publishing(store.DECK) as publication:
        batches = top_k_of_products(
            user_vectors, item_vectors, k=3 * n, batch=batch_users, adjust=probabilities
        )
        total = -(-len(user_vectors) // batch_users)
        for rows, candidates, probs in track(
            batches, job="generate_decks", total=total, unit="batches"
        ):
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
