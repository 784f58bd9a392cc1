"""Popularity baselines and the guest lists: most bought and time-decayed trending."""

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommendations.ml.data import top_k


def most_popular(user_items: sp.csr_matrix) -> npt.NDArray[np.int64]:
    """Item indices by number of distinct users, most first (ties by index)."""
    users_per_item = np.asarray((user_items > 0).sum(axis=0)).ravel()
    return np.lexsort((np.arange(len(users_per_item)), -users_per_item))


def top_n_popular(
    user_items: sp.csr_matrix,
    *,
    n: int,
    exclude_seen: sp.csr_matrix | None = None,
    batch_users: int = 2000,
) -> npt.NDArray[np.int64]:
    """The popularity baseline as a users x n array (-1 padded), seen items removed.

    Popularity comes from `user_items`; the rows are those of `exclude_seen` when given.
    """
    n_items = user_items.shape[1]
    n_users = exclude_seen.shape[0] if exclude_seen is not None else user_items.shape[0]
    n = min(n, n_items)
    # A strictly decreasing score per item by popularity rank; seen items drop below zero.
    score = np.empty(n_items)
    score[most_popular(user_items)] = np.arange(n_items, 0, -1)
    out = np.full((n_users, n), -1, dtype=np.int64)
    for start in range(0, n_users, batch_users):
        rows = slice(start, min(start + batch_users, n_users))
        scores = np.broadcast_to(score, (rows.stop - rows.start, n_items)).copy()
        if exclude_seen is not None:
            seen = exclude_seen[rows].tocoo()
            scores[seen.row, seen.col] = -1
        best = top_k(scores, n)
        valid = np.take_along_axis(scores, best, axis=1) > 0
        out[rows] = np.where(valid, best, -1)
    return out


def trending(
    item_index: npt.NDArray[np.int64],
    age_days: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64],
    *,
    n_items: int,
    half_life_days: float,
) -> npt.NDArray[np.float64]:
    """Per-item sum of event weights, each halved every `half_life_days` of age."""
    decayed = weights * np.exp2(-np.asarray(age_days) / half_life_days)
    return np.bincount(item_index, weights=decayed, minlength=n_items)


def rank_scores(scores: npt.NDArray[np.float64], *, n: int) -> tuple[npt.NDArray, npt.NDArray]:
    """Indices and scores of the `n` highest positive scores, best first."""
    candidates = np.flatnonzero(scores > 0)
    best = candidates[np.lexsort((candidates, -scores[candidates]))][:n]
    return best, scores[best]
