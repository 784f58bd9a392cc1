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
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    totals = dict.fromkeys(("precision", "recall", "ndcg", "map", "hit_rate"), 0.0)
    for u in users:
        truth = test.indices[test.indptr[u] : test.indptr[u + 1]]
        hits = np.isin(top[u], truth) & (top[u] >= 0)
        n_hits, n_truth = hits.sum(), len(truth)
        ideal = min(k, n_truth)
        totals["precision"] += n_hits / k
        totals["recall"] += n_hits / n_truth
        totals["ndcg"] += discounts[: len(hits)][hits].sum() / discounts[:ideal].sum()
        precision_at_hits = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
        totals["map"] += precision_at_hits.sum() / ideal
        totals["hit_rate"] += n_hits > 0
    n = max(len(users), 1)
    metrics = {f"{name}@{k}": value / n for name, value in totals.items()}
    shown = top[users] if len(users) else top[:0]
    metrics["coverage"] = len(np.unique(shown[shown >= 0])) / max(test.shape[1], 1)
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
