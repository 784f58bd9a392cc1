"""Popularity baselines and the guest lists: most bought and time-decayed trending."""

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


def most_popular(user_items: sp.csr_matrix) -> npt.NDArray[np.int64]:
    """Item indices by number of distinct users, most first (ties by index)."""
    users_per_item = np.asarray((user_items > 0).sum(axis=0)).ravel()
    return np.lexsort((np.arange(len(users_per_item)), -users_per_item))


def top_n_popular(
    user_items: sp.csr_matrix, *, n: int, exclude_seen: sp.csr_matrix | None = None
) -> npt.NDArray[np.int64]:
    """The popularity baseline as a users x n array (-1 padded), seen items removed."""
    ranked = most_popular(user_items)
    out = np.full((user_items.shape[0], n), -1, dtype=np.int64)
    seen_rows = exclude_seen if exclude_seen is not None else sp.csr_matrix(user_items.shape)
    for u in range(user_items.shape[0]):
        seen = seen_rows.indices[seen_rows.indptr[u] : seen_rows.indptr[u + 1]]
        head = ranked[: n + len(seen)]
        picked = head[~np.isin(head, seen)][:n]
        out[u, : len(picked)] = picked
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
