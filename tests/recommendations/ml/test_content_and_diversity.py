import numpy as np

from recommendations.ml.content import item_vectors, price_bands, top_similar
from recommendations.ml.diversity import diversify, explore, longest_cluster_count


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
