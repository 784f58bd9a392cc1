import numpy as np
import scipy.sparse as sp

from recommendations.ml import als
from recommendations.ml.evaluate import compare_with_popularity
from recommendations.ml.popularity import top_n_popular


def checkerboard(users: int = 60, items: int = 40) -> sp.csr_matrix:
    """Two groups: the first half of users likes the first half of items, the rest the rest."""
    dense = np.zeros((users, items), dtype=np.float32)
    dense[: users // 2, : items // 2] = 1
    dense[users // 2 :, items // 2 :] = 1
    return sp.csr_matrix(dense)


def test_a_held_out_like_of_the_users_group_is_ranked_first():
    full = checkerboard()
    train = full.tolil()
    held_out = {u: (u * 7) % 20 + (20 if u >= 30 else 0) for u in range(60)}
    for u, item in held_out.items():
        train[u, item] = 0
    train = train.tocsr()
    train.eliminate_zeros()
    model = als.fit(train, als.AlsParams(factors=4, iterations=15, regularization=0.01))
    top, scores = als.top_n(model, train, n=3)
    assert all(top[u, 0] == item for u, item in held_out.items())
    assert (np.diff(scores, axis=1) <= 1e-6).all()


def test_items_the_user_has_are_never_recommended():
    train = checkerboard()
    model = als.fit(train, als.AlsParams(factors=4, iterations=5))
    top, _ = als.top_n(model, train, n=25)
    for u in range(train.shape[0]):
        seen = set(train[u].indices)
        assert not seen & set(top[u][top[u] >= 0])


def test_rows_run_short_with_minus_one_when_fewer_items_remain():
    matrix = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32))
    model = als.fit(matrix, als.AlsParams(factors=2, iterations=3))
    top, _ = als.top_n(model, matrix, n=3)
    assert list(top[0]) == [2, -1, -1]


def test_filtered_items_are_left_out():
    train = checkerboard()
    model = als.fit(train, als.AlsParams(factors=4, iterations=5))
    top, _ = als.top_n(model, train, n=20, filter_items=np.arange(20, 40))
    assert (top[top >= 0] < 20).all()


def test_als_beats_popularity_on_planted_groups():
    rng = np.random.default_rng(2)
    users, items = 400, 100
    group = np.arange(users) % 4
    dense = np.zeros((users, items), dtype=np.float32)
    for u in range(users):
        own = np.arange(group[u] * 25, group[u] * 25 + 25)
        dense[u, rng.choice(own, 8, replace=False)] = 1
    train = sp.csr_matrix(dense)
    test_dense = np.zeros_like(dense)
    for u in range(users):
        own = np.arange(group[u] * 25, group[u] * 25 + 25)
        unseen = own[dense[u, own] == 0]
        test_dense[u, rng.choice(unseen, 3, replace=False)] = 1
    model = als.fit(train, als.AlsParams(factors=8, iterations=15, regularization=0.1))
    top, _ = als.top_n(model, train, n=10)
    metrics = compare_with_popularity(
        top, top_n_popular(train, n=10, exclude_seen=train), sp.csr_matrix(test_dense), k=10
    )
    assert metrics["ndcg@10"] > 2 * metrics["baseline_ndcg@10"]
    assert metrics["hit_rate@10"] > 0.9


def test_the_same_seed_trains_the_same_model():
    train = checkerboard()
    params = als.AlsParams(factors=4, iterations=5, seed=7)
    a = als.fit(train, params, threads=1)
    b = als.fit(train, params, threads=1)
    assert np.allclose(a.item_factors, b.item_factors)
