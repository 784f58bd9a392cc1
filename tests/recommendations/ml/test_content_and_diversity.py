import numpy as np
import scipy.sparse as sp

from recommendations.ml.content import item_vectors, price_bands, top_similar
from recommendations.ml.diversity import (
    diversify,
    diversify_rows,
    explore,
    explore_rows,
    in_rows,
    longest_cluster_count,
)
from recommendations.ml.foldin import best_contributor, best_contributors_rows


def test_a_new_item_gets_neighbours_of_its_own_category_and_brand():
    categories = ["dress", "dress", "dress", "boots", "boots", "dress"]
    brands = ["aurora", "aurora", "basalt", "cobalt", "cobalt", "aurora"]
    colours = ["red", "red", "blue", "black", "black", "red"]
    prices = [50, 55, 60, 120, 130, 52]
    texts = [
        "red silk dress",
        "red linen dress",
        "blue dress",
        "black boots",
        "leather boots",
        "red dress",
    ]
    vectors = item_vectors(
        categories=categories, brands=brands, colours=colours, prices=prices, texts=texts
    )
    ids, scores = top_similar(vectors, n=2, rows=np.array([5]))
    assert set(ids[0]) == {0, 1}
    assert scores[0][0] >= scores[0][1]


def test_price_bands_split_by_quantile():
    assert list(price_bands([1, 2, 3, 4, 100], bands=2)) == [0, 0, 1, 1, 1]


def test_a_deck_never_has_more_than_three_of_a_cluster_in_ten():
    clusters = np.array([0] * 30 + [1] * 30 + [2] * 30 + [3] * 30)  # ranked: all of 0 first
    picked = diversify(clusters, n=40, window=10, max_per_window=3)
    assert len(set(picked.tolist())) == 40
    assert longest_cluster_count(clusters[picked], window=10) <= 3
    assert picked[0] == 0


def test_diversify_keeps_the_rank_order_when_there_is_nothing_to_fix():
    clusters = np.arange(20)
    assert list(diversify(clusters, n=10)) == list(range(10))


def test_exploration_replaces_the_asked_share_never_the_first_entry():
    rng = np.random.default_rng(0)
    deck, explored = explore(np.arange(100), np.arange(1000, 1100), share=0.1, rng=rng)
    assert explored.sum() == 10
    assert not explored[0]
    assert (deck[explored] >= 1000).all()
    again, _ = explore(
        np.arange(100), np.arange(1000, 1100), share=0.1, rng=np.random.default_rng(0)
    )
    assert np.array_equal(deck, again)


def test_many_rows_diversified_at_once_each_keep_the_rule_and_their_rank_order():
    rng = np.random.default_rng(3)
    clusters = rng.integers(0, 5, (50, 60))  # five clusters: runs are everywhere
    valid = rng.random((50, 60)) > 0.1
    picked = diversify_rows(clusters, valid, n=30)
    for row in range(50):
        got = picked[row][picked[row] >= 0]
        assert len(got) == 30
        assert len(set(got.tolist())) == 30
        assert valid[row, got].all()  # never an invalid candidate
        assert longest_cluster_count(clusters[row, got], window=10) <= 3
        # the same row alone gives the same list
        alone = diversify(np.where(valid[row], clusters[row], -1)[valid[row]], n=30)
        assert np.array_equal(np.flatnonzero(valid[row])[alone], got)
    assert (diversify_rows(clusters, np.zeros_like(valid), n=5) == -1).all()


def test_exploring_many_rows_draws_fresh_items_from_each_rows_own_pool():
    rng = np.random.default_rng(4)
    ranked = np.tile(np.arange(20), (3, 1))
    ranked[1, 10:] = -1  # a short list
    ranked[2, 1:] = -1  # a single entry: nothing to replace but the first
    pools = np.array([[100, 101, 102, 5, 6, -1], [200, 200, 201, -1, -1, -1], [300] * 6])
    out, explored = explore_rows(ranked, pools, share=0.25, rng=rng)
    assert explored.sum(axis=1).tolist() == [3, 2, 0]  # round(20 * .25) = 5, but 3 fresh
    assert not explored[:, 0].any()
    assert set(out[0][explored[0]]) == {100, 101, 102}  # 5 and 6 are already listed
    assert set(out[1][explored[1]]) == {200, 201}  # each item once
    assert (out[1, 10:] == -1).all()
    assert (out[2, 1:] == -1).all()
    assert np.array_equal(out[~explored], ranked[~explored])


def test_rows_of_contributors_match_one_user_at_a_time():
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(40, 6)).astype(np.float32)
    likes = sp.random(8, 40, density=0.15, format="csr", random_state=1, dtype=np.float32)
    likes.data = rng.random(likes.nnz).astype(np.float32)
    entries = rng.integers(-1, 40, (8, 10))
    got = best_contributors_rows(entries, likes, vectors)
    for row in range(8):
        columns = likes[row].indices
        weighted = vectors[columns] * likes[row].data[:, None]
        valid = entries[row] >= 0
        one = best_contributor(vectors[entries[row][valid]], weighted)
        assert np.array_equal(got[row][valid], np.where(one >= 0, columns[np.maximum(one, 0)], -1))
        assert (got[row][~valid] == -1).all()


def test_in_rows_finds_each_value_only_in_its_own_row():
    rng = np.random.default_rng(6)
    values = rng.integers(-1, 60, (200, 30))
    other = rng.integers(-1, 60, (200, 20))
    expected = np.array(
        [[v >= 0 and v in set(o) for v in row] for row, o in zip(values, other, strict=True)]
    )
    assert (in_rows(values, other) == expected).all()
    assert expected.any()
    assert not expected.all()
