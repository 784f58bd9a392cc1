"""Ranking metrics of top-N index arrays against a held-out users x items matrix.

ALS, MF and popularity all produce `top_items` (users x N item indices, -1 for padding), so
one code path scores them all. Only users with at least one held-out item count.
"""

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


def ranking_metrics(
    top_items: npt.NDArray[np.int64], test: sp.csr_matrix, *, k: int = 10
) -> dict[str, float]:
    """precision, recall, ndcg, map and hit rate @k over evaluated users; catalog coverage."""
    top = np.asarray(top_items)[:, :k]
    n_truth = np.diff(test.indptr)
    users = np.flatnonzero(n_truth > 0)
    top, n_truth = top[users], n_truth[users]
    width = top.shape[1]
    test_keys = np.repeat(np.arange(test.shape[0]), np.diff(test.indptr)) * test.shape[1]
    test_keys = np.sort(test_keys + test.indices)
    hits = np.isin(users[:, None] * test.shape[1] + top, test_keys) & (top >= 0)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.minimum(k, n_truth)
    idcg = np.cumsum(discounts)[ideal - 1]
    n_hits = hits.sum(axis=1)
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, width + 1)
    per_user = {
        "precision": n_hits / k,
        "recall": n_hits / n_truth,
        "ndcg": (hits * discounts[:width]).sum(axis=1) / idcg,
        "map": (precision_at * hits).sum(axis=1) / ideal,
        "hit_rate": (n_hits > 0).astype(float),
    }
    n = max(len(users), 1)
    metrics = {f"{name}@{k}": float(values.sum() / n) for name, values in per_user.items()}
    metrics["coverage"] = len(np.unique(top[top >= 0])) / max(test.shape[1], 1)
    metrics["users"] = float(len(users))
    return metrics


def compare_with_popularity(
    top_items: npt.NDArray[np.int64],
    popular_items: npt.NDArray[np.int64],
    test: sp.csr_matrix,
    *,
    k: int,
) -> dict[str, float]:
    """A model's metrics, the popularity baseline's under `baseline_`, and their nDCG ratio."""
    model = ranking_metrics(top_items, test, k=k)
    baseline = ranking_metrics(popular_items, test, k=k)
    out = {**model, **{f"baseline_{name}": value for name, value in baseline.items()}}
    ndcg = f"ndcg@{k}"
    out[f"{ndcg}_vs_baseline"] = model[ndcg] / baseline[ndcg] if baseline[ndcg] else float("inf")
    return out
