import dataclasses

import numpy as np
import pytest
import torch
from scipy.special import expit

from recommendations.ml import mf
from recommendations.ml.data import holdout_mask
from recommendations.ml.synthetic import ShopSpec, make_shop

SPEC = ShopSpec(users=300, items=120, events=15_000, groups=4, seed=1)
PARAMS = mf.MfParams(factors=8, epochs=15, batch_size=2048, learning_rate=0.02, patience=2)


def swipes():
    shop = make_shop(SPEC)
    keep = shop.event_kind <= 1  # like, dislike
    users, items = shop.event_user[keep], shop.event_item[keep]
    labels = (shop.event_kind[keep] == 0).astype(np.float32)
    test = np.random.default_rng(0).random(len(users)) < 0.2
    return shop, users, items, labels, test


@pytest.fixture(scope="module")
def trained():
    shop, users, items, labels, test = swipes()
    model = mf.fit(
        users[~test],
        items[~test],
        labels[~test],
        n_users=SPEC.users,
        n_items=SPEC.items,
        params=PARAMS,
    )
    return shop, users, items, labels, test, model


def test_mf_predicts_held_out_swipes_of_the_planted_groups(trained):
    _, users, items, labels, test, model = trained
    metrics = mf.classification_metrics(labels[test], mf.predict(model, users[test], items[test]))
    assert metrics["auc"] > 0.9
    assert metrics["log_loss"] < 0.5


def test_unseen_items_of_a_users_group_score_above_other_groups_items(trained):
    shop, *_, model = trained
    user = 5
    own = np.flatnonzero(shop.item_group == shop.user_group[user])
    other = np.flatnonzero(shop.item_group != shop.user_group[user])
    p_own = mf.predict(model, np.full(len(own), user), own).mean()
    p_other = mf.predict(model, np.full(len(other), user), other).mean()
    assert p_own > p_other + 0.3


def test_one_dot_product_of_the_exported_embeddings_is_the_prediction(trained):
    _, users, items, _, test, model = trained
    user_vectors, item_vectors = mf.embeddings(model)
    dot = (user_vectors[users[test]] * item_vectors[items[test]]).sum(axis=1)
    assert np.allclose(expit(dot), mf.predict(model, users[test], items[test]), atol=1e-5)


def test_batch_norm_and_dropout_still_fold_into_the_embeddings():
    _, users, items, labels, _ = swipes()
    params = mf.MfParams(factors=8, epochs=3, batch_norm=True, dropout=0.2, batch_size=2048)
    model = mf.fit(users, items, labels, n_users=SPEC.users, n_items=SPEC.items, params=params)
    user_vectors, item_vectors = mf.embeddings(model)
    dot = (user_vectors[users[:50]] * item_vectors[items[:50]]).sum(axis=1)
    assert np.allclose(expit(dot), mf.predict(model, users[:50], items[:50]), atol=1e-5)


def test_the_same_seed_trains_the_same_model():
    _, users, items, labels, _ = swipes()
    params = mf.MfParams(factors=4, epochs=2, batch_size=4096)
    a = mf.fit(users, items, labels, n_users=SPEC.users, n_items=SPEC.items, params=params)
    b = mf.fit(users, items, labels, n_users=SPEC.users, n_items=SPEC.items, params=params)
    assert all(
        np.array_equal(x, y) for x, y in zip(mf.embeddings(a), mf.embeddings(b), strict=True)
    )


def test_explicit_ratings_are_learned_with_mse():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 50, 4000), rng.integers(0, 40, 4000)
    ratings = np.where((users % 2) == (items % 2), 5.0, 1.0).astype(np.float32)
    params = mf.MfParams(factors=4, epochs=40, learning_rate=0.05, batch_size=512, patience=5)
    model = mf.fit(users, items, ratings, n_users=50, n_items=40, params=params, explicit=True)
    metrics = mf.rating_metrics(
        ratings[:500], mf.predict(model, users[:500], items[:500]), train_mean=ratings.mean()
    )
    assert metrics["rmse"] < 0.8
    assert metrics["baseline_rmse"] > 1.9  # the mean (3) is 2 off every rating


HARD = ShopSpec.hard(users=1500, items=400, events=150_000, seed=2)


@pytest.fixture(scope="module")
def hard_swipes():
    shop = make_shop(HARD)
    keep = shop.event_kind <= 1
    users, items = shop.event_user[keep], shop.event_item[keep]
    labels = (shop.event_kind[keep] == 0).astype(np.float32)
    test = holdout_mask(users, test_fraction=0.2, seed=0)
    return users, items, labels, test


def _held_out_auc(hard_swipes, params):
    users, items, labels, test = hard_swipes
    _, predicted = mf.fit_held_out(
        users, items, labels, test, n_users=HARD.users, n_items=HARD.items, params=params
    )
    return mf.classification_metrics(labels[test], predicted)


def test_mf_beats_the_bias_and_item_rate_baselines_on_the_harder_shop(hard_swipes):
    _, items, labels, test = hard_swipes
    mf_auc = _held_out_auc(hard_swipes, mf.MfParams())["auc"]
    bias_auc = _held_out_auc(hard_swipes, mf.bias_params(mf.MfParams()))["auc"]
    rates = mf.item_like_rates(items[~test], labels[~test], n_items=HARD.items)
    rate_auc = mf.classification_metrics(labels[test], rates[items[test]])["auc"]
    assert mf_auc > bias_auc + 0.03
    assert bias_auc > rate_auc  # the users' biases are planted too


def test_the_bias_model_has_no_factors_and_is_still_one_dot_product(hard_swipes):
    users, items, labels, _ = hard_swipes
    params = mf.bias_params(mf.MfParams(seed=3))
    model = mf.fit(users, items, labels, n_users=HARD.users, n_items=HARD.items, params=params)
    assert params.is_bias_model
    user_vectors, item_vectors = mf.embeddings(model)
    assert user_vectors.shape == (HARD.users, 2)  # [b_u, 1] . [1, b_i + b]
    dot = (user_vectors[users[:50]] * item_vectors[items[:50]]).sum(axis=1)
    assert np.allclose(expit(dot), mf.predict(model, users[:50], items[:50]), atol=1e-5)


def test_item_like_rates_are_shrunk_towards_the_overall_rate():
    items = np.array([0, 0, 0, 0, 1])
    labels = np.array([1, 1, 1, 1, 0], dtype=np.float32)  # overall 0.8
    rates = mf.item_like_rates(items, labels, n_items=3, prior_swipes=2)
    assert np.allclose(rates, [(4 + 1.6) / 6, (0 + 1.6) / 3, 0.8])


def test_the_random_search_scores_every_candidate_on_the_validation_swipes(hard_swipes):
    users, items, labels, test = hard_swipes
    first = mf.MfParams(factors=4, epochs=2)
    candidates = mf.search_candidates(first, trials=3)
    assert candidates[0] == first
    assert len(set(candidates)) == 3
    assert candidates == mf.search_candidates(first, trials=3)  # seeded
    recorded = mf.random_search(
        users, items, labels, test, n_users=HARD.users, n_items=HARD.items,
        candidates=[first, mf.bias_params(first)],
    )  # fmt: skip
    assert [r["params"]["factors"] for r in recorded] == [4, 0]
    assert recorded[1]["auc"] == pytest.approx(
        _held_out_auc((users, items, labels, test), mf.bias_params(first))["auc"]
    )


def test_sampled_unseen_items_weigh_what_negative_weight_says(hard_swipes):
    users, items, labels, _ = hard_swipes
    base = mf.MfParams(factors=4, epochs=3, negatives_per_positive=1.0, seed=1)
    unweighted = mf.fit(
        users, items, labels, n_users=HARD.users, n_items=HARD.items,
        params=dataclasses.replace(base, negative_weight=0.0),
    )  # fmt: skip
    weighted = mf.fit(users, items, labels, n_users=HARD.users, n_items=HARD.items, params=base)
    # Sampled unseen items are zeros: the more they weigh, the lower an arbitrary pair scores.
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, HARD.users, 5000), rng.integers(0, HARD.items, 5000)
    assert mf.predict(weighted, *pairs).mean() < mf.predict(unweighted, *pairs).mean() - 0.05


def test_a_model_carried_over_to_new_ids_keeps_its_rows_and_warm_starts_to_the_same_quality():
    _shop, users, items, labels, test = swipes()
    late = users >= 270  # users 270.. and their swipes arrive after the first fit
    params = dataclasses.replace(PARAMS, epochs=40, patience=2)
    first = mf.fit(
        users[~test & ~late], items[~test & ~late], labels[~test & ~late],
        n_users=270, n_items=SPEC.items, params=params,
    )  # fmt: skip
    # The first fit indexed users 0..269 as ids 0..269; now the ids are 0..299 (items too).
    carried = mf.carried_over(
        first, users=(np.arange(270), np.arange(SPEC.users)), items=(np.arange(120),) * 2
    )
    pairs = (users[:50] % 270, items[:50])
    assert np.allclose(mf.predict(carried, *pairs), mf.predict(first, *pairs))
    new_users = np.arange(270, 300)
    assert not carried.net.user_bias.weight[new_users].any()  # fresh rows, as a new net's
    assert carried.net.users.weight[new_users].abs().max() > 0

    cold = mf.fit(
        users[~test], items[~test], labels[~test], n_users=SPEC.users, n_items=SPEC.items,
        params=params,
    )  # fmt: skip
    warm = mf.fit(
        users[~test], items[~test], labels[~test], n_users=SPEC.users, n_items=SPEC.items,
        params=params, init=carried, patience=1,
    )  # fmt: skip
    auc = {
        name: mf.classification_metrics(labels[test], mf.predict(m, users[test], items[test]))[
            "auc"
        ]
        for name, m in (("cold", cold), ("warm", warm))
    }
    assert len(warm.history) < len(cold.history) / 2
    assert auc["warm"] > auc["cold"] - 0.01
    # The late users were learnt too, not left at their fresh rows.
    late_test = test & late
    late = {
        name: mf.classification_metrics(
            labels[late_test], mf.predict(m, users[late_test], items[late_test])
        )["auc"]
        for name, m in (("carried", carried), ("warm", warm))
    }
    assert late["warm"] > 0.85 > late["carried"] + 0.2


def test_a_warm_fit_takes_its_own_learning_rate_and_epochs_but_records_the_params():
    _shop, users, items, labels, test = swipes()
    params = dataclasses.replace(PARAMS, epochs=40, patience=2)
    train = ~test
    first = mf.fit(
        users[train], items[train], labels[train], n_users=SPEC.users, n_items=SPEC.items,
        params=params,
    )  # fmt: skip
    pairs = (users[test], items[test])
    # An absurd learning rate wrecks the model: proof that it was the one used.
    wrecked = mf.fit(
        users[train], items[train], labels[train], n_users=SPEC.users, n_items=SPEC.items,
        params=params, init=first, patience=5, learning_rate=50.0, max_epochs=2,
    )  # fmt: skip
    gentle = mf.fit(
        users[train], items[train], labels[train], n_users=SPEC.users, n_items=SPEC.items,
        params=params, init=first, patience=5, learning_rate=1e-4, max_epochs=2,
    )  # fmt: skip
    assert len(wrecked.history) == len(gentle.history) == 2
    assert wrecked.params == gentle.params == first.params  # the next warm start matches
    auc = {
        name: mf.classification_metrics(labels[test], mf.predict(m, *pairs))["auc"]
        for name, m in (("first", first), ("wrecked", wrecked), ("gentle", gentle))
    }
    assert auc["gentle"] > auc["first"] - 0.005
    assert auc["wrecked"] < auc["first"] - 0.05


def test_the_compiled_lazy_adam_step_is_the_torch_step():
    rng = np.random.default_rng(4)
    rows = torch.as_tensor(rng.integers(0, 50, 300))  # rows repeat, as in a batch
    grad = torch.sparse_coo_tensor(rows[None], torch.randn(300, 6), (50, 6), check_invariants=True)
    before = [torch.randn(50, 6), torch.randn(50, 6).abs(), torch.rand(50, 6)]
    after = []
    for step in (mf._lazy_adam_rows, mf._lazy_adam_torch):
        table, mean, square = (t.clone() for t in before)
        step(table, mean, square, grad, lr=0.01, betas=(0.9, 0.999), fixes=(0.19, 0.002), eps=1e-8)
        after.append((table, mean, square))
    for compiled, plain in zip(*after, strict=True):
        assert torch.allclose(compiled, plain, atol=1e-5)
    untouched = np.setdiff1d(np.arange(50), rows.numpy())
    assert torch.equal(after[0][0][untouched], before[0][untouched])
