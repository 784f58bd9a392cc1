import numpy as np
import pytest
import scipy.sparse as sp
from implicit.evaluation import ranking_metrics_at_k

from recommendations.ml import als
from recommendations.ml.data import split_random
from recommendations.ml.evaluate import ranking_metrics


def test_the_truth_scores_one_and_disjoint_lists_score_zero():
    test = sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]], dtype=np.float32))
    truth = np.array([[0, 1, -1], [2, -1, -1]])
    disjoint = np.array([[3, 4, 5], [3, 4, 5]])
    perfect = ranking_metrics(truth, test, k=3)
    assert perfect["ndcg@3"] == pytest.approx(1.0)
    assert perfect["map@3"] == pytest.approx(1.0)
    assert perfect["recall@3"] == pytest.approx(1.0)
    assert perfect["hit_rate@3"] == pytest.approx(1.0)
    assert perfect["coverage"] == pytest.approx(3 / 6)
    nothing = ranking_metrics(disjoint, test, k=3)
    assert nothing["ndcg@3"] == 0
    assert nothing["map@3"] == 0
    assert nothing["hit_rate@3"] == 0


def test_a_hit_lower_in_the_list_counts_less():
    test = sp.csr_matrix(np.array([[1, 0, 0]], dtype=np.float32))
    first = ranking_metrics(np.array([[0, 1, 2]]), test, k=3)["ndcg@3"]
    third = ranking_metrics(np.array([[1, 2, 0]]), test, k=3)["ndcg@3"]
    assert first == pytest.approx(1.0)
    assert third == pytest.approx(1 / np.log2(4))


def test_users_without_held_out_items_are_not_counted():
    test = sp.csr_matrix(np.array([[1, 0], [0, 0]], dtype=np.float32))
    metrics = ranking_metrics(np.array([[0, 1], [1, 0]]), test, k=1)
    assert metrics["users"] == 1
    assert metrics["precision@1"] == 1


def test_ndcg_and_map_agree_with_implicits_own_evaluation():
    rng = np.random.default_rng(0)
    dense = (rng.random((300, 80)) < 0.08).astype(np.float32)
    train, test = split_random(sp.csr_matrix(dense), test_fraction=0.3, seed=1)
    model = als.fit(train, als.AlsParams(factors=8, iterations=5))
    top, _ = als.top_n(model, train, n=10)
    ours = ranking_metrics(top, test, k=10)
    theirs = ranking_metrics_at_k(model, train, test, K=10, show_progress=False)
    assert ours["ndcg@10"] == pytest.approx(theirs["ndcg"], rel=1e-6)
    assert ours["map@10"] == pytest.approx(theirs["map"], rel=1e-6)
