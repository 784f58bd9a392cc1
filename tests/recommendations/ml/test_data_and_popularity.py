import numpy as np
import scipy.sparse as sp

from recommendations.ml.data import (
    IdIndex,
    ScoreTable,
    build_matrix,
    holdout_mask,
    in_csr_rows,
    row_products,
    split_by_time,
    split_random,
    stable_uniform,
    top_k_of_products,
)
from recommendations.ml.popularity import most_popular, rank_scores, top_n_popular, trending


def test_ids_map_to_indices_and_back_and_unknown_ids_are_minus_one():
    index = IdIndex.of([30, 10, 20, 10])
    assert list(index.ids) == [10, 20, 30]
    assert list(index.index_of([20, 99, 10])) == [1, -1, 0]


def test_the_matrix_sums_repeated_pairs():
    data = build_matrix([5, 5, 7], [1, 1, 2], [1.0, 2.0, 4.0])
    assert data.user_items.toarray().tolist() == [[3.0, 0.0], [0.0, 4.0]]


def test_a_random_split_holds_out_a_share_of_each_users_items_and_loses_none():
    rng = np.random.default_rng(0)
    matrix = sp.csr_matrix((rng.random((50, 40)) < 0.3).astype(np.float32))
    train, test = split_random(matrix, test_fraction=0.25, seed=3)
    assert (train + test != matrix).nnz == 0
    assert train.multiply(test).nnz == 0
    per_user = np.diff(test.indptr) / np.maximum(np.diff(matrix.indptr), 1)
    assert (per_user[np.diff(matrix.indptr) >= 4] > 0).all()
    assert abs(test.nnz / matrix.nnz - 0.25) < 0.06


def test_a_temporal_split_tests_only_new_items_bought_after_the_cutoff():
    rows, cols = np.array([0, 0, 0, 1]), np.array([0, 1, 0, 2])
    values, times = np.ones(4, np.float32), np.array([1.0, 5.0, 6.0, 7.0])
    train, test = split_by_time(rows, cols, values, times, cutoff=4.0, shape=(2, 3))
    assert train.toarray().tolist() == [[1, 0, 0], [0, 0, 0]]
    assert test.toarray().tolist() == [[0, 1, 0], [0, 0, 1]]


def test_popularity_counts_users_not_quantities_and_skips_seen_items():
    matrix = sp.csr_matrix(np.array([[9, 1, 0], [0, 1, 0], [0, 1, 1]], dtype=np.float32))
    assert list(most_popular(matrix)) == [1, 0, 2]
    assert top_n_popular(matrix, n=2, exclude_seen=matrix).tolist() == [[2, -1], [0, 2], [0, -1]]


def test_trending_prefers_recent_events_with_a_half_life():
    scores = trending(
        np.array([0, 1, 1]), np.array([0.0, 7.0, 7.0]), np.ones(3), n_items=3, half_life_days=7
    )
    assert np.allclose(scores, [1.0, 1.0, 0.0])
    best, _ = rank_scores(np.array([0.5, 2.0, 0.0, 1.0]), n=5)
    assert list(best) == [1, 3, 0]


def test_top_n_popular_matches_walking_the_ranking_for_each_user():
    rng = np.random.default_rng(5)
    dense = (rng.random((300, 40)) < rng.random(40) * 0.6).astype(float)
    matrix = sp.csr_matrix(dense)
    ranking = most_popular(matrix).tolist()
    got = top_n_popular(matrix, n=15, exclude_seen=matrix, batch_users=64)
    for row, seen in enumerate(dense > 0):
        unseen = [i for i in ranking if not seen[i]][:15]
        assert got[row].tolist() == unseen + [-1] * (15 - len(unseen))


def test_a_score_table_over_given_ids_leaves_out_the_pairs_of_unknown_ones():
    table = ScoreTable.of(
        [1, 2, 9], [5, 5, 6], [1.0, 2.0, 3.0], [0, 0, 0],
        users=IdIndex.of([1, 2]), items=IdIndex.of([5, 6]),
    )  # fmt: skip
    assert np.allclose(table.matrix(half_life_days=0).toarray(), [[np.log(2), 0], [np.log(3), 0]])
    assert table.indicator(np.array([True, False, True])).toarray().tolist() == [[1, 0], [0, 0]]


def test_top_k_of_products_ranks_each_rows_best_columns_batch_by_batch_with_a_mask():
    left = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0]], dtype=np.float32)
    right = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 1.5]], dtype=np.float32)

    def never_column_0(rows, scores):
        scores[:, 0] = -np.inf
        return scores

    out = list(top_k_of_products(left, right, k=2, batch=2))
    assert [rows.tolist() for rows, _, _ in out] == [[0, 1], [2]]
    assert np.concatenate([best for _, best, _ in out]).tolist() == [[0, 2], [1, 2], [0, 2]]
    masked = np.concatenate(
        [best for _, best, _ in top_k_of_products(left, right, k=1, adjust=never_column_0)]
    )
    assert masked.ravel().tolist() == [2, 1, 2]


def test_a_stable_split_keeps_old_rows_on_their_side_as_new_rows_arrive():
    rng = np.random.default_rng(3)
    users, items = rng.integers(0, 300, 20_000), rng.integers(0, 5_000, 20_000)
    times = np.arange(20_000) * 1_000
    old = 19_000  # the last 1,000 rows arrive later

    def split(n: int) -> np.ndarray:
        draws = stable_uniform(users[:n], items[:n], times[:n], seed=7)
        return holdout_mask(users[:n], test_fraction=0.2, seed=7, draws=draws)

    before, after = split(old), split(len(users))[:old]
    moved_in = np.flatnonzero(~before & after)
    assert 0.19 < before.mean() < 0.21
    # A user's held-out share grows by at most one row per five new ones: only those cross
    # from the training side, and never more than the new rows' users could move.
    assert len(moved_in) <= len(np.unique(users[old:]))
    assert len(moved_in) < 0.03 * before.sum()
    # The same rows give the same numbers whatever else is in the data; another seed, others.
    assert np.array_equal(
        stable_uniform(users[5:10], items[5:10], times[5:10], seed=7),
        stable_uniform(users, items, times, seed=7)[5:10],
    )
    assert not np.allclose(
        stable_uniform(users, items, times, seed=7), stable_uniform(users, items, times, seed=8)
    )
    # Nor does the order the database returns the rows in change a row's side (a seeded
    # random split draws by position, so it does).
    shuffled = rng.permutation(old)
    draws = stable_uniform(users[shuffled], items[shuffled], times[shuffled], seed=7)
    again = holdout_mask(users[shuffled], test_fraction=0.2, seed=7, draws=draws)
    assert np.array_equal(again, before[shuffled])
    plain = holdout_mask(users[:old], test_fraction=0.2, seed=7)[shuffled]
    assert (holdout_mask(users[shuffled], test_fraction=0.2, seed=7) != plain).sum() > 1000


def test_membership_in_csr_rows_and_row_products_match_numpy_on_every_row():
    rng = np.random.default_rng(5)
    matrix = sp.random(300, 500, density=0.03, format="csr", random_state=rng)
    matrix = sp.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)
    matrix.indices = matrix.indices.copy()
    for row in range(300):  # unsorted columns within rows, as scipy may hold them
        part = slice(matrix.indptr[row], matrix.indptr[row + 1])
        matrix.indices[part] = matrix.indices[part][::-1]
    matrix.has_sorted_indices = False
    values = rng.integers(-1, 500, (300, 40))
    dense = matrix.toarray() != 0
    rows = np.arange(300)[:, None]
    expected = dense[rows, np.maximum(values, 0)] & (values >= 0)
    assert (in_csr_rows(values, matrix) == expected).all()
    assert expected.any()
    assert not expected.all()

    left = rng.standard_normal((300, 7)).astype(np.float32)
    right = rng.standard_normal((500, 7)).astype(np.float32)
    products = row_products(left, right, values)
    reference = np.einsum("rf,rkf->rk", left, right[np.maximum(values, 0)])
    np.testing.assert_allclose(products, np.where(values >= 0, reference, 0), atol=1e-5)
