"""Fold-in: one user's vector solved against a trained model's item factors, the items held
fixed (no retraining), and which of the user's items explains each entry of their list."""

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.special import expit
from threadpoolctl import threadpool_limits


def als_user_factors(model: object, user_items: sp.csr_matrix) -> npt.NDArray[np.float32]:
    """Factors of each row's user (rows x factors), from that row alone: implicit's own
    least-squares user step (`recalculate_user`), the item factors as trained."""
    with threadpool_limits(1, "blas"):
        return np.asarray(
            model.recalculate_user(np.arange(user_items.shape[0]), user_items.tocsr()),
            dtype=np.float32,
        ).reshape(user_items.shape[0], -1)


def als_contributors(
    model: object,
    confidence: sp.csr_matrix,
    entries: npt.NDArray[np.int64],
    *,
    budget: int = 4_000_000,
) -> npt.NDArray[np.int64]:
    """users x n: for each entry (item index; -1 pads), the column of the user's own item that
    adds most to its ALS score, -1 where none adds anything.

    An entry i's score is sum_j c_j y_i' A^-1 y_j over the user's items j, with
    A = Y'Y + reg I + sum_j (c_j - 1) y_j y_j' and c_j = alpha * confidence_j (implicit's user
    step), so each term is exactly item j's share. Users are taken in blocks of similar
    length, padded, so that every product is one batched matmul (`budget` floats a block)."""
    confidence = confidence.tocsr()
    factors = np.asarray(model.item_factors, dtype=np.float32)
    base = np.asarray(model.YtY, np.float32) + model.regularization * np.eye(
        factors.shape[1], dtype=np.float32
    )
    counts = np.diff(confidence.indptr)
    best = np.full(entries.shape, -1, dtype=np.int64)
    order = np.argsort(-counts, kind="stable")  # longest first: a block's first is its longest
    order = order[counts[order] > 0]
    start = 0
    while start < len(order):
        longest = int(counts[order[start]])
        users = order[start : start + max(1, budget // (entries.shape[1] * longest))]
        start += len(users)
        slots = np.arange(longest)
        valid = slots[None, :] < counts[users][:, None]
        positions = np.where(valid, confidence.indptr[users][:, None] + slots[None, :], 0)
        items = np.where(valid, confidence.indices[positions], 0)
        c = np.where(valid, model.alpha * confidence.data[positions], 0).astype(np.float32)
        y = factors[items] * valid[:, :, None]  # users x longest x f
        a = base + np.matmul((y * (c - 1)[:, :, None]).transpose(0, 2, 1), y)
        shares = np.linalg.solve(a, y.transpose(0, 2, 1) * c[:, None, :])  # A^-1 y_j c_j
        top = entries[users]
        contributions = np.matmul(factors[np.maximum(top, 0)], shares)  # users x n x longest
        contributions[~np.broadcast_to(valid[:, None, :], contributions.shape)] = -np.inf
        pick = contributions.argmax(axis=2)
        found = (np.take_along_axis(contributions, pick[:, :, None], 2)[:, :, 0] > 0) & (top >= 0)
        best[users] = np.where(found, np.take_along_axis(items, pick, 1), -1)
    return best


def mf_user_vector(
    item_vectors: npt.NDArray[np.float32],
    items: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float32],
    *,
    sample_weights: npt.NDArray[np.float32] | None = None,
    l2: float = 1.0,
    iterations: int = 25,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """A user's MF vector [u, b_u, 1] from their swipes (targets 1 like, 0 dislike or sampled
    unseen item, each counted `sample_weights` times, 1 by default, as training counts them),
    the item vectors [v, 1, b_i + b] held fixed: L2-regularised logistic regression solved by
    Newton steps, the same logit the batch model uses.

    Also returns each swipe's weight in the solution (u = sum_j w_j v_j / l2 at the optimum,
    w_j = s_j (y_j - p_j)), what `best_contributor` needs to say which like explains an
    entry."""
    x = np.asarray(item_vectors[items, :-1], dtype=np.float64)  # [v, 1]: u and b_u
    offset = np.asarray(item_vectors[items, -1], dtype=np.float64)  # b_i + b
    y = np.asarray(targets, dtype=np.float64)
    s = np.ones(len(y)) if sample_weights is None else np.asarray(sample_weights, np.float64)
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    for _ in range(iterations):
        p = expit(x @ w + offset)
        gradient = x.T @ (s * (p - y)) + penalty * w
        hessian = (x * (s * p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    weights = s * (y - expit(x @ w + offset))
    return np.append(w, 1.0).astype(np.float32), weights.astype(np.float32)


def best_contributor(
    entry_vectors: npt.NDArray[np.float32], source_vectors: npt.NDArray[np.float32]
) -> npt.NDArray[np.int64]:
    """For each entry (rows of `entry_vectors`), the row of `source_vectors` whose product
    with it is largest: the user's item that adds most to the entry's score; -1 where no
    source adds anything (or there are none)."""
    if not len(source_vectors) or not len(entry_vectors):
        return np.full(len(entry_vectors), -1, dtype=np.int64)
    contributions = entry_vectors @ source_vectors.T
    best = contributions.argmax(axis=1)
    return np.where(contributions.max(axis=1) > 0, best, -1).astype(np.int64)


def best_contributors_rows(
    entries: npt.NDArray[np.int64], sources: sp.csr_matrix, vectors: npt.NDArray[np.float32]
) -> npt.NDArray[np.int64]:
    """`best_contributor` for many users at once: for each entry (rows x n item indices, -1
    for none), the column of that row of `sources` (rows x items; values weigh each source
    item's vector) whose weighted product with the entry's vector is largest; -1 where none
    adds anything."""
    sources = sources.tocsr()
    return _best_contributors(
        np.ascontiguousarray(entries, dtype=np.int64),
        sources.indptr.astype(np.int64),
        sources.indices.astype(np.int64),
        sources.data.astype(np.float32),
        np.ascontiguousarray(vectors, dtype=np.float32),
    )


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _best_contributors(entries, indptr, indices, weights, vectors):  # pragma: no cover
    rows, n = entries.shape
    factors = vectors.shape[1]
    out = np.full((rows, n), -1, dtype=np.int64)
    for row in numba.prange(rows):
        first, last = indptr[row], indptr[row + 1]
        for i in range(n):
            entry = entries[row, i]
            if entry < 0:
                continue
            best = np.float32(0.0)
            for k in range(first, last):
                source = indices[k]
                total = np.float32(0.0)
                for f in range(factors):
                    total += vectors[entry, f] * vectors[source, f]
                total *= weights[k]
                if total > best:
                    best = total
                    out[row, i] = source
    return out
