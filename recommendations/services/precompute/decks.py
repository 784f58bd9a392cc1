"""`generate_decks`: every swiper's deck from the MF model, diverse, with exploration, and the
onboarding deck of users with no events. The refresher builds one user's deck with the same
`DeckContext.deck`."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.utils import timezone
from scipy.special import expit

from catalog.models import Item
from recommendations import store
from recommendations.ml import diversity, foldin, mf
from recommendations.ml.data import IdIndex, build_matrix, top_k_of_products
from recommendations.models import Interaction, ModelRun
from recommendations.services import tables
from recommendations.services.precompute import PublishResult
from recommendations.services.progress import log_step, track
from recommendations.services.publish import active_item_ids
from recommendations.services.sql import INT, fetch_array
from recommendations.services.training.model_runs import load_served

EXPLORE_SHARE = 0.1
_EXPLORE = store.codec.source_code("explore")
_POPULAR = store.codec.source_code("popular")
_DECK_EXCLUDING = [Interaction.Kind.LIKE, Interaction.Kind.DISLIKE, Interaction.Kind.PURCHASE]


def swiped_matrices(users: IdIndex, items: IdIndex) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """users x items: swiped or bought (never shown in a deck again), and liked."""
    rows = fetch_array(
        f"SELECT user_id, item_id, CASE WHEN kind = %s THEN 1 ELSE 0 END FROM {tables.EVENTS} "
        "WHERE kind IN (%s, %s, %s) "
        f"UNION ALL SELECT o.customer_id, l.item_id, 0 FROM {tables.LINES} l "
        f"JOIN {tables.ORDERS} o ON o.id = l.order_id WHERE o.customer_id IS NOT NULL",
        [Interaction.Kind.LIKE, *_DECK_EXCLUDING],
        types=(INT, INT, INT),
    ).astype(np.int64)
    seen = build_matrix(rows[:, 0], rows[:, 1], np.ones(len(rows)), users=users, items=items)
    liked = rows[rows[:, 2] == 1]
    likes = build_matrix(liked[:, 0], liked[:, 1], np.ones(len(liked)), users=users, items=items)
    return seen.user_items, likes.user_items


def item_groups(items: IdIndex) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per item: a near-duplicate cluster (same category, brand and colour), and its
    category."""
    rows = Item.objects.filter(pk__in=items.ids.tolist()).values_list(
        "pk", "category_id", "brand", "colour"
    )
    keys = {pk: (category, brand.lower(), colour.lower()) for pk, category, brand, colour in rows}
    codes: dict[tuple, int] = {}
    clusters = np.array(
        [codes.setdefault(keys.get(int(pk), ("?", "?", "?")), len(codes)) for pk in items.ids],
        dtype=np.int64,
    )
    categories = np.array([keys.get(int(pk), (-1,))[0] or -1 for pk in items.ids], np.int64)
    return clusters, categories


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


@dataclass
class DeckContext:
    """What every deck of one MF model shares: its item vectors, which items may be shown,
    their clusters, and the items nobody has swiped."""

    items: IdIndex
    item_vectors: npt.NDArray[np.float32]
    blocked: npt.NDArray[np.bool_]  # inactive
    clusters: npt.NDArray[np.int64]
    categories: npt.NDArray[np.int64]
    never_swiped: npt.NDArray[np.int64]
    n: int
    model: str = "mf"  # "bias" where the bias baseline won the gate
    explore_share: float = EXPLORE_SHARE

    def probabilities(self, logits: npt.NDArray, seen: sp.csr_matrix) -> npt.NDArray:
        """Like-probabilities of rows of logits, -1 for items that must not be shown
        (inactive, or seen by that row's user)."""
        probs = expit(logits)
        probs[:, self.blocked] = -1
        probs[seen.nonzero()] = -1
        return probs

    def deck(
        self,
        probs: npt.NDArray[np.float32],
        candidates: npt.NDArray[np.int64],
        liked: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]],
        *,
        rng: np.random.Generator,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray, npt.NDArray]:
        """One user's deck (item indices), its scores, source codes and because (item ids, 0
        for none), from their probabilities, their best candidates and their likes' vectors
        weighted by how much each shaped the user's vector (rows x factors, may be empty)."""
        ranked = candidates[probs[candidates] >= 0]
        pool = _exploration_pool(probs, self.never_swiped, size=2 * self.n)
        deck, explored = self._explored_and_diversified(ranked, pool, rng)
        because = self.because(deck, liked)
        because[explored] = 0
        model = store.codec.source_code(self.model)
        return deck, probs[deck], np.where(explored, _EXPLORE, model), because

    def because(
        self, deck: npt.NDArray[np.int64], liked: tuple[npt.NDArray, npt.NDArray]
    ) -> npt.NDArray[np.int64]:
        """The liked item that adds most to each entry's logit (0 for none). `liked` is
        (item indices, weights): the contribution of like j to entry i is w_j v_j . v_i."""
        indices, weights = liked
        factors = self.item_vectors[:, :-2]  # v, without the bias columns
        best = foldin.best_contributor(factors[deck], factors[indices] * weights[:, None])
        ids = self.items.ids[indices]
        return np.where(best >= 0, ids[np.maximum(best, 0)] if len(ids) else 0, 0)

    def onboarding(
        self, popularity: npt.NDArray[np.float64], *, rng: np.random.Generator
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray]:
        """The deck of a user with no events: round robin over the categories (each one's most
        liked items first), no run of near-duplicates, and the exploration share."""
        order = diversity.round_robin(
            self.categories, popularity, allowed=~self.blocked, n=3 * self.n
        )
        probs = np.where(self.blocked, -1.0, expit(self.item_vectors[:, -1]))
        pool = self.never_swiped[~self.blocked[self.never_swiped]]
        deck, explored = self._explored_and_diversified(order, pool, rng)
        return deck, probs[deck], np.where(explored, _EXPLORE, _POPULAR)

    def _explored_and_diversified(
        self, ranked: npt.NDArray[np.int64], pool: npt.NDArray[np.int64], rng: np.random.Generator
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """The first `n` of `ranked` with the exploration share drawn from `pool`, then no
        run of near-duplicates (the rest of `ranked` fills in); which entries explore."""
        head, explored = diversity.explore(
            ranked[: self.n], pool, share=self.explore_share, rng=rng
        )
        tail = ranked[self.n :]
        ranked = np.concatenate([head, tail[~np.isin(tail, head)]])
        explored = np.concatenate([explored, np.zeros(len(ranked) - len(explored), bool)])
        picked = diversity.diversify(self.clusters[ranked], n=self.n)
        return ranked[picked], explored[picked]


def deck_context(artifact: object, *, n: int, seen: sp.csr_matrix) -> DeckContext:
    """The shared part of every deck of the served MF model (`seen`: users x items swiped)."""
    _, item_vectors = mf.embeddings(artifact.model)
    clusters, categories = item_groups(artifact.items)
    return DeckContext(
        items=artifact.items,
        item_vectors=item_vectors,
        blocked=~np.isin(artifact.items.ids, np.fromiter(active_item_ids(), np.int64)),
        clusters=clusters,
        categories=categories,
        never_swiped=np.flatnonzero(np.asarray(seen.sum(axis=0)).ravel() == 0),
        n=n,
        model="bias" if artifact.model.params.is_bias_model else "mf",
    )


def generate_decks(
    *, n: int | None = None, explore_share: float = EXPLORE_SHARE, seed: int = 0,
    batch_users: int = 1000,
) -> PublishResult:  # fmt: skip
    """Every swiper's next `n` unseen items by like-probability of the served swipe model (MF,
    or the bias model where it won the gate), diversified, with exploration, each explained by
    a like; and the onboarding deck."""
    if not 0 <= explore_share < 1:
        raise ValueError("explore_share must be in [0, 1)")
    data_as_of = timezone.now()
    run, artifact = load_served(ModelRun.Kind.MF)
    user_vectors, item_vectors = mf.embeddings(artifact.model)
    seen, likes = swiped_matrices(artifact.users, artifact.items)
    context = deck_context(artifact, n=n or settings.PICKS_LIST_LENGTH, seen=seen)
    context.explore_share = explore_share
    rng = np.random.default_rng(seed)

    with store.publishing(store.DECK) as publication:
        batches = top_k_of_products(
            user_vectors, item_vectors, k=3 * context.n, batch=batch_users,
            adjust=lambda rows, logits: context.probabilities(logits, seen[rows]),
        )  # fmt: skip
        total = -(-len(user_vectors) // batch_users)
        for rows, candidates, probs in track(
            batches, job="generate_decks", total=total, unit="batches"
        ):
            for r, user_row in enumerate(rows):
                liked = likes[user_row].indices
                weights = 1 - expit(item_vectors[liked] @ user_vectors[user_row])
                deck, scores, sources, because = context.deck(
                    probs[r], candidates[r], (liked, weights), rng=rng
                )
                publication.put(
                    int(artifact.users.ids[user_row]),
                    artifact.items.ids[deck],
                    scores,
                    sources,
                    because,
                )
        popularity = np.asarray(likes.sum(axis=0), dtype=np.float64).ravel()
        deck, scores, sources = context.onboarding(popularity, rng=rng)
        publication.put(store.ONBOARDING, artifact.items.ids[deck], scores, sources)
        publication.commit(
            built_at=timezone.now().isoformat(), data_as_of=data_as_of.timestamp(),
            source=context.model, model_run=run.pk,
        )  # fmt: skip
    log_step("generate_decks", "published", version=publication.version, lists=publication.lists)
    return PublishResult(publication.version, publication.lists)
