"""`generate_decks`: every swiper's deck from the MF model, diverse, with exploration, and the
onboarding deck of users with no events. The refresher builds one user's deck with the same
`DeckContext.deck`."""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.utils import timezone
from scipy.special import expit

from catalog.models import Item
from recommendations import store
from recommendations.ml import diversity, foldin, mf, neighbours
from recommendations.ml.data import (
    IdIndex,
    best_unseen,
    build_matrix,
    in_csr_rows,
    row_products,
)
from recommendations.ml.neighbours import ApproximateColumns
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
    index: ApproximateColumns | None = None  # approximate search over the item vectors

    def candidates(
        self, user_vectors: npt.NDArray[np.float32], seen: sp.csr_matrix, *, exact: bool = False
    ) -> npt.NDArray[np.int64]:
        """Each user's 3n best unseen items that may be shown, best first, -1 padded (from
        the approximate index where there is one, unless `exact`)."""
        if self.index is not None and not exact:
            return self.index.best_unseen(user_vectors, k=3 * self.n, exclude=seen)[0]
        return best_unseen(
            user_vectors, self.item_vectors, k=3 * self.n, exclude=seen, blocked=self._blocked
        )[0]

    @cached_property
    def _blocked(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(self.blocked)

    @cached_property
    def _allowed(self) -> npt.NDArray[np.int64]:
        return np.flatnonzero(~self.blocked)

    @cached_property
    def _fresh(self) -> npt.NDArray[np.int64]:
        """Items nobody has swiped that may be shown."""
        return self.never_swiped[~self.blocked[self.never_swiped]]

    @cached_property
    def _factors(self) -> npt.NDArray[np.float32]:
        return np.ascontiguousarray(self.item_vectors[:, :-2])  # v, without the bias columns

    def like_weights(
        self, user_vectors: npt.NDArray[np.float32], likes: sp.csr_matrix
    ) -> sp.csr_matrix:
        """`likes` (rows x items) weighted by how much each like shaped its user's vector:
        1 - p(like) of the liked item under the model."""
        likes = likes.tocsr().astype(np.float32)
        users = np.repeat(np.arange(likes.shape[0]), np.diff(likes.indptr))
        logits = np.einsum(
            "kf,kf->k", self.item_vectors[likes.indices], user_vectors[users], dtype=np.float32
        )
        likes.data = (1 - expit(logits)).astype(np.float32)
        return likes

    def decks(
        self,
        user_vectors: npt.NDArray[np.float32],
        seen: sp.csr_matrix,
        liked: sp.csr_matrix,
        *,
        rng: np.random.Generator,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray, npt.NDArray]:
        """The decks of a batch of users (their vectors, and rows x items of what each has
        seen and of their weighted likes, see `like_weights`): item indices (rows x n, -1 pads
        a row's end), like-probabilities, source codes, and because (item ids, 0 for none).

        Each deck is the user's unseen items ranked by like-probability (3n candidates),
        `explore_share` of its first n swapped for exploration, then no run of
        near-duplicates (the rest of the candidates fill in)."""
        user_vectors = np.ascontiguousarray(user_vectors, dtype=np.float32)
        ranked = self.candidates(user_vectors, seen)
        head = ranked[:, : self.n]
        head, explored = diversity.explore_rows(
            head, self._pools(user_vectors, seen, head, rng), share=self.explore_share, rng=rng
        )
        tail = ranked[:, self.n :]
        tail = np.where(diversity.in_rows(tail, head), -1, tail)
        ranked = np.concatenate([head, tail], axis=1)
        explored = np.concatenate([explored, np.zeros(tail.shape, bool)], axis=1)
        picked = diversity.diversify_rows(
            self.clusters[np.maximum(ranked, 0)], ranked >= 0, n=self.n
        )
        deck = np.where(picked >= 0, np.take_along_axis(ranked, np.maximum(picked, 0), 1), -1)
        explored = np.take_along_axis(explored, np.maximum(picked, 0), 1) & (picked >= 0)
        scores = expit(row_products(user_vectors, self.item_vectors, deck))
        contributor = foldin.best_contributors_rows(deck, liked, self._factors)
        because = np.where(
            (contributor >= 0) & ~explored, self.items.ids[np.maximum(contributor, 0)], 0
        )
        model = store.codec.source_code(self.model)
        return deck, scores, np.where(explored, _EXPLORE, model).astype(np.uint8), because

    def _pools(
        self,
        user_vectors: npt.NDArray[np.float32],
        seen: sp.csr_matrix,
        head: npt.NDArray[np.int64],
        rng: np.random.Generator,
    ) -> npt.NDArray[np.int64]:
        """Each user's exploration pool (rows x 2m, -1 for none; m = twice the items a deck
        explores, at least 8): the m items neither seen nor in the deck's `head` that the
        model is least sure about (p nearest 0.5) among 2m drawn at random (all of a
        catalogue under 8n items), and m drawn from the items nobody has swiped."""
        rows = len(user_vectors)
        size = max(2 * round(self.n * self.explore_share), 8)
        if not len(self._allowed):
            return np.full((rows, 0), -1, dtype=np.int64)
        if len(self._allowed) <= 8 * self.n:  # a small catalogue: all of it
            drawn = np.broadcast_to(self._allowed, (rows, len(self._allowed)))
        else:
            drawn = np.sort(self._allowed[rng.integers(0, len(self._allowed), (rows, 2 * size))])
        unseen = ~in_csr_rows(drawn, seen) & ~diversity.in_rows(drawn, head)
        unseen[:, 1:] &= drawn[:, 1:] != drawn[:, :-1]  # each item once
        size = min(size, drawn.shape[1])
        logits = row_products(user_vectors, self.item_vectors, drawn)
        distance = np.where(unseen, np.abs(logits), np.inf)
        nearest = np.argpartition(distance, size - 1, axis=1)[:, :size]
        unsure = np.where(
            np.isfinite(np.take_along_axis(distance, nearest, 1)),
            np.take_along_axis(drawn, nearest, 1),
            -1,
        )
        if not len(self._fresh):
            return unsure
        fresh = self._fresh[rng.integers(0, len(self._fresh), (rows, size))]
        return np.concatenate([unsure, fresh], axis=1)

    def onboarding(
        self, popularity: npt.NDArray[np.float64], *, rng: np.random.Generator
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray]:
        """The deck of a user with no events: round robin over the categories (each one's most
        liked items first), no run of near-duplicates, and the exploration share."""
        order = diversity.round_robin(
            self.categories, popularity, allowed=~self.blocked, n=3 * self.n
        )
        probs = np.where(self.blocked, -1.0, expit(self.item_vectors[:, -1]))
        head, explored = diversity.explore(
            order[: self.n], self._fresh, share=self.explore_share, rng=rng
        )
        tail = order[self.n :]
        ranked = np.concatenate([head, tail[~np.isin(tail, head)]])
        explored = np.concatenate([explored, np.zeros(len(ranked) - len(explored), bool)])
        picked = diversity.diversify(self.clusters[ranked], n=self.n)
        deck = ranked[picked]
        return deck, probs[deck], np.where(explored[picked], _EXPLORE, _POPULAR)


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
    batch_users: int = 2000,
) -> PublishResult:  # fmt: skip
    """Every swiper's next `n` unseen items by like-probability of the served swipe model (MF,
    or the bias model where it won the gate), diversified, with exploration, each explained by
    a like; and the onboarding deck."""
    if not 0 <= explore_share < 1:
        raise ValueError("explore_share must be in [0, 1)")
    data_as_of = timezone.now()
    run, artifact = load_served(ModelRun.Kind.MF)
    user_vectors = mf.embeddings(artifact.model)[0]
    seen, likes = swiped_matrices(artifact.users, artifact.items)
    context = deck_context(artifact, n=n or settings.PICKS_LIST_LENGTH, seen=seen)
    context.explore_share = explore_share
    rng = np.random.default_rng(seed)
    meta: dict[str, object] = {"method": "exact"}
    if len(artifact.items) > settings.PICKS_EXACT_SCORING_MAX_ITEMS:
        context.index = ApproximateColumns(context.item_vectors, blocked=context._blocked)
        meta = {
            "method": "approximate",
            **neighbours.probes_for_recall(
                context.index,
                lambda rows: context.candidates(user_vectors[rows], seen[rows]),
                lambda rows: context.candidates(user_vectors[rows], seen[rows], exact=True),
                len(user_vectors),
                target=settings.PICKS_APPROXIMATE_RECALL,
            ),
        }
        log_step("generate_decks", "approximate", **meta)

    with store.publishing(store.DECK) as publication:
        starts = range(0, len(user_vectors), batch_users)
        for start in track(starts, job="generate_decks", total=len(starts), unit="batches"):
            rows = np.arange(start, min(start + batch_users, len(user_vectors)))
            vectors = user_vectors[rows]
            deck, scores, sources, because = context.decks(
                vectors, seen[rows], context.like_weights(vectors, likes[rows]), rng=rng
            )
            publication.put_rows(
                artifact.users.ids[rows],
                np.where(deck >= 0, artifact.items.ids[np.maximum(deck, 0)], -1),
                scores,
                because,
                sources=sources,
            )
        popularity = np.asarray(likes.sum(axis=0), dtype=np.float64).ravel()
        deck, scores, sources = context.onboarding(popularity, rng=rng)
        publication.put(store.ONBOARDING, artifact.items.ids[deck], scores, sources)
        publication.commit(
            built_at=timezone.now().isoformat(), data_as_of=data_as_of.timestamp(),
            source=context.model, model_run=run.pk, **meta,
        )  # fmt: skip
    log_step("generate_decks", "published", version=publication.version, lists=publication.lists)
    return PublishResult(publication.version, publication.lists)
