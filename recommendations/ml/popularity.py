"""Popularity baselines and the guest lists: most bought and time-decayed trending."""

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


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
    Everyone shares one ranking, so a user's list is the first `n` items of it they have not
    seen: only the first n + (most items seen in the batch) ranks need looking at.
    """
    n_items = user_items.shape[1]
    n = min(n, n_items)
    order = most_popular(user_items)
    if exclude_seen is None:
        return np.tile(order[:n], (user_items.shape[0], 1))
    seen = exclude_seen.tocsr()
    rank = np.empty(n_items, dtype=np.int64)
    rank[order] = np.arange(n_items)
    out = np.full((seen.shape[0], n), -1, dtype=np.int64)
    for start in range(0, seen.shape[0], batch_users):
        block = seen[start : start + batch_users].tocoo()
        width = min(n_items, n + int(np.diff(seen.indptr[start : start + batch_users + 1]).max()))
        ranks = rank[block.col]
        near = ranks < width
        taken = np.zeros((block.shape[0], width), dtype=bool)
        taken[block.row[near], ranks[near]] = True
        first = np.argsort(taken, axis=1, kind="stable")[:, :n]  # unseen first, by rank
        free = ~np.take_along_axis(taken, first, axis=1)
        out[start : start + block.shape[0]] = np.where(free, order[first], -1)
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
