"""Fold-in against fixed item factors, on planted data: the solved user vector ranks the
user's own group first, ALS's fold-in is implicit's own user step, and explanations name the
user's items that really add most."""

import numpy as np
import scipy.sparse as sp

from recommendations.ml import als, foldin, mf
from recommendations.ml.diversity import round_robin
from recommendations.ml.synthetic import ShopSpec, make_shop
from tests.recommendations.ml.test_mf import PARAMS, SPEC, swipes


def test_an_mf_vector_solved_from_five_likes_ranks_the_users_group_first():
    shop, users, items, labels, _ = swipes()
    model = mf.fit(users, items, labels, n_users=SPEC.users, n_items=SPEC.items, params=PARAMS)
    _, item_vectors = mf.embeddings(model)
    rng = np.random.default_rng(3)
    shares = []
    for group in range(SPEC.groups):
        own = np.flatnonzero(shop.item_group == group)
        liked = rng.choice(own, 5, replace=False)
        others = rng.choice(np.flatnonzero(shop.item_group != group), 5, replace=False)
        vector, weights = foldin.mf_user_vector(
            item_vectors,
            np.concatenate([liked, others]),
            np.r_[np.ones(5), np.zeros(5)].astype(np.float32),
        )
        assert vector[-1] == 1  # the slot that meets the item's bias
        assert (weights[:5] > 0).all()
        assert (weights[5:] < 0).all()
        logits = item_vectors @ vector
        logits[liked] = -np.inf
        top = np.argsort(-logits)[:10]
        shares.append(np.mean(shop.item_group[top] == group))
    assert np.mean(shares) >= 0.8


def test_a_swipe_weighing_two_folds_in_as_that_swipe_twice():
    rng = np.random.default_rng(4)
    item_vectors = np.c_[rng.normal(size=(30, 4)), np.ones(30), rng.normal(size=30)]
    items = np.array([1, 2, 3, 4, 5])
    targets = np.array([1, 1, 0, 0, 0], dtype=np.float32)
    weighted, weights = foldin.mf_user_vector(
        item_vectors, items, targets, sample_weights=np.array([1, 2, 1, 1, 0.5])
    )
    doubled, _ = foldin.mf_user_vector(
        item_vectors, np.r_[items, 2], np.r_[targets, 1], sample_weights=np.r_[1, 1, 1, 1, 0.5, 1]
    )
    assert np.allclose(weighted, doubled, atol=1e-5)
    plain, _ = foldin.mf_user_vector(item_vectors, items, targets)
    assert not np.allclose(weighted, plain, atol=1e-3)
    # the representer identity still holds: u = sum_j w_j v_j / l2 (l2 = 1)
    assert np.allclose(weighted[:4], weights @ item_vectors[items, :4], atol=1e-4)


def test_als_fold_in_is_implicits_user_step_and_explanations_add_up():
    shop = make_shop(ShopSpec(users=200, items=80, events=6000, groups=4, seed=2))
    matrix = sp.csr_matrix(
        (np.ones(len(shop.event_user), np.float32), (shop.event_user, shop.event_item)),
        shape=(200, 80),
    )
    model = als.fit(matrix, als.AlsParams(factors=8, iterations=10, regularization=0.1))
    row = matrix[7]
    folded = foldin.als_user_factors(model, row)[0]
    np.testing.assert_allclose(folded, model.recalculate_user(7, row).ravel(), rtol=1e-5)
    # Item j's share of entry i's score, computed directly: c_j y_i' A^-1 y_j
    y, c = model.item_factors, model.alpha * row.data
    a = y.T @ y + model.regularization * np.eye(8)
    a += (y[row.indices] * (c - 1)[:, None]).T @ y[row.indices]
    shares = y @ np.linalg.inv(a) @ (y[row.indices] * c[:, None]).T  # items x user's items
    np.testing.assert_allclose(shares.sum(axis=1), y @ folded, rtol=1e-3, atol=1e-4)
    entries = np.argsort(-(y @ folded))[:10]
    best = foldin.als_contributors(model, matrix[[3, 7]], np.stack([entries, entries]))[1]
    assert (best == row.indices[shares[entries].argmax(axis=1)]).all()


def test_best_contributor_says_none_when_nothing_adds():
    entries = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    sources = np.array([[-1.0, 0.0], [0.0, 2.0]], np.float32)
    assert foldin.best_contributor(entries, sources).tolist() == [-1, 1]
    assert foldin.best_contributor(entries, np.empty((0, 2), np.float32)).tolist() == [-1, -1]


def test_round_robin_takes_each_group_in_turn_most_popular_first():
    groups = np.array([0, 0, 0, 1, 1, 2])
    popularity = np.array([5.0, 9.0, 1.0, 3.0, 4.0, 0.0])
    allowed = np.array([True, True, True, True, False, True])
    assert round_robin(groups, popularity, allowed=allowed, n=5).tolist() == [1, 3, 5, 0, 2]
