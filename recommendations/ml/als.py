"""Implicit ALS (benfred/implicit), wrapped thinly."""

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from recommendations.ml.data import best_unseen, common_rows, unit_rows
from recommendations.ml.neighbours import ApproximateColumns

FILTERED_SCORE = np.finfo(np.float32).min / 2


@dataclass(frozen=True)
class AlsParams:
    """Defaults tuned on Online Retail (docs/benchmarks.md); `tune` finds a shop's own.

    `half_life_days` shapes the input (see data.confidence); factors to iterations are
    implicit's ALS. The rest blend other families into top buys (ml/blend.py): item-item
    neighbours with `item_weight` and the shop's demand over the last `trend_days` with
    `trend_weight`, ALS keeping the remaining 1 - item_weight - trend_weight.
    """

    factors: int = 32
    regularization: float = 1.0
    alpha: float = 2.0
    iterations: int = 15
    half_life_days: float = 15.0
    seed: int = 0
    item_weight: float = 0.0
    item_weighting: str = "bm25"
    item_neighbours: int = 200
    trend_weight: float = 0.0
    trend_days: float = 7.0

    def __post_init__(self) -> None:
        if not (0 <= self.item_weight <= 1 and 0 <= self.trend_weight <= 1):
            raise ValueError("item_weight and trend_weight must be between 0 and 1")
        if self.item_weight + self.trend_weight > 1:
            raise ValueError("item_weight + trend_weight must be at most 1")
        if self.item_neighbours < 1 or not self.trend_days > 0:
            raise ValueError("item_neighbours must be at least 1 and trend_days above 0")

    @property
    def family(self) -> str:
        """What the blend is made of, for people: "als", "bm25", "als+bm25+trend" ..."""
        parts = [
            name
            for name, weight in (
                ("als", 1 - self.item_weight - self.trend_weight),
                (self.item_weighting, self.item_weight),
                ("trend", self.trend_weight),
            )
            if weight > 1e-9
        ]
        return "+".join(parts)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def fit(
    user_items: sp.csr_matrix,
    params: AlsParams,
    *,
    threads: int = 0,
    init: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]] | None = None,
    iterations: int | None = None,
) -> AlternatingLeastSquares:
    """Train ALS on a users x items confidence matrix (values > 0): from random factors, or
    from `init` (user and item factors, a warm start) for `iterations` (default the params')."""
    # implicit runs its own threads; a second BLAS thread pool would only fight them.
    with threadpool_limits(1, "blas"):
        model = unfitted(params, threads=threads)
        if init is not None:
            model.user_factors, model.item_factors = (f.copy() for f in init)
        model.iterations = params.iterations if iterations is None else iterations
        model.fit(user_items.astype(np.float32).tocsr(), show_progress=False)
    return model


def carried_factors(
    model: AlternatingLeastSquares,
    *,
    users: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    items: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    fresh: npt.NDArray[np.int64],
    seed: int,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """A fitted model's factors on new user and item indexes, to warm-start `fit`: `users` and
    `items` are (the ids it was fitted on, the ids now), both sorted. Ids in both keep their
    factors; new ids, and the users at the new indexes `fresh` (whose factors must not carry
    what they were fitted on), start as implicit starts every factor (uniform * 0.01)."""
    rng = np.random.default_rng(seed)
    out = []
    for factors, (before, now) in ((model.user_factors, users), (model.item_factors, items)):
        carried = (rng.random((len(now), factors.shape[1])) * 0.01).astype(np.float32)
        old_rows, new_rows = common_rows(before, now)
        carried[new_rows] = factors[old_rows]
        out.append(carried)
    out[0][fresh] = (rng.random((len(fresh), out[0].shape[1])) * 0.01).astype(np.float32)
    return out[0], out[1]


def unfitted(params: AlsParams, *, threads: int = 0) -> AlternatingLeastSquares:
    """implicit's model with `params`, not trained (another engine may fill its factors)."""
    with threadpool_limits(1, "blas"):  # implicit warns about a BLAS thread pool otherwise
        return AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=params.alpha,
            iterations=params.iterations,
            random_state=params.seed,
            num_threads=threads,
            calculate_training_loss=False,
        )


def fold_in_users(
    model: AlternatingLeastSquares, user_items: sp.csr_matrix, users: npt.NDArray[np.int64]
) -> None:
    """Recompute the factors of `users` from their rows of `user_items`, the item factors as
    they are: one least-squares step for those users only (implicit's partial_fit_users)."""
    if len(users):
        with threadpool_limits(1, "blas"):
            model.partial_fit_users(users, user_items[users].astype(np.float32).tocsr())


def top_n(
    model: AlternatingLeastSquares,
    exclude: sp.csr_matrix,
    *,
    n: int,
    users: npt.NDArray[np.int64] | None = None,
    batch_size: int = 1000,
    filter_items: npt.NDArray[np.int64] | None = None,
    index: ApproximateColumns | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Item indices and scores, one row per user (all users or `users`), `exclude`d items
    removed; rows are padded with -1 where fewer than `n` items remain. With `index` (built
    on the item factors, `filter_items` left out) the items come from approximate search."""
    users = np.arange(exclude.shape[0]) if users is None else np.asarray(users)
    if index is not None:
        return index.best_unseen(model.user_factors[users], k=n, exclude=exclude[users])
    return best_unseen(
        model.user_factors[users], model.item_factors, k=n, exclude=exclude[users],
        blocked=None if filter_items is None else np.asarray(filter_items, np.int64),
        batch=batch_size,
    )  # fmt: skip


def item_vectors(model: AlternatingLeastSquares) -> npt.NDArray[np.float32]:
    """Item factors scaled to unit length (cosine similarity is then a dot product)."""
    return unit_rows(model.item_factors)
