"""Top-buys blends on shops with a known answer: a season that everybody buys into late in the
year, items that come in pairs, and taste groups."""

from dataclasses import dataclass, replace

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.ml import als, blend
from recommendations.ml.data import IdIndex
from recommendations.ml.evaluate import ranking_metrics

DAY = 86_400.0
FAST = als.AlsParams(factors=8, iterations=10, regularization=0.1, half_life_days=60.0)


@dataclass(frozen=True)
class Shop:
    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    times: np.ndarray
    group_items: list[np.ndarray]
    season: np.ndarray
    n_users: int
    n_items: int


def seasonal_shop(*, seed: int = 0, n_users: int = 400, groups: int = 4) -> Shop:
    """Users in taste groups buy their group's items all year (days 0-360), the group's
    favourites most; from day 290 on the season brings a new item every ten days, each
    selling for twenty days to most users whatever their group."""
    rng = np.random.default_rng(seed)
    per_group, n_season = 30, 7
    n_items = groups * per_group + n_season
    group_items = [np.arange(g * per_group, (g + 1) * per_group) for g in range(groups)]
    season = np.arange(groups * per_group, n_items)
    favour = 1.0 / np.arange(1, per_group + 1)  # within a group, a few items sell most
    rows = []
    for user in range(n_users):
        own = group_items[user % groups]
        for item in rng.choice(own, 12, replace=False, p=favour / favour.sum()):
            rows.append((user, item, rng.uniform(0, 360)))
        for drop, item in enumerate(season):
            if rng.random() < 0.6:
                rows.append((user, item, rng.uniform(290 + 10 * drop, 310 + 10 * drop)))
    users, items, times = (np.array(column) for column in zip(*rows, strict=True))
    return Shop(
        users.astype(np.int64), items.astype(np.int64), np.full(len(rows), 4.0, np.float32),
        times * DAY, group_items, season, n_users, n_items,
    )  # fmt: skip


def window(shop: Shop, *, end_day: float, cutoff_day: float, seed: int = 0) -> blend.Validation:
    """Learn from the events before `cutoff_day`, score on new items up to `end_day`."""
    keep = shop.times < end_day * DAY
    return blend.temporal_validation(
        shop.users[keep], shop.items[keep], shop.weights[keep], shop.times[keep],
        cutoff=cutoff_day * DAY, users=IdIndex(np.arange(shop.n_users)),
        items=IdIndex(np.arange(shop.n_items)), max_users=shop.n_users, seed=seed,
    )  # fmt: skip


def guard_of(validation: blend.Validation) -> blend.Validation:
    return blend.random_guard(
        validation.table, test_fraction=0.2, seed=1, max_users=validation.table.users.ids.size
    )


def ndcg(params: als.AlsParams, validation: blend.Validation) -> float:
    fit = validation.fit(params)
    model = blend.fit(fit, params, demand=validation.demand(params.trend_days))
    top, _ = blend.top_n(model, fit, validation.exclude, n=10, users=validation.users)
    return ranking_metrics(top, validation.truth[validation.users], k=10)["ndcg@10"]


def test_recent_demand_counts_the_users_active_on_each_item_within_the_window():
    cols = np.array([0, 0, 0, 1, 2, -1])
    ages = np.array([1.0, 6.9, 8.0, 2.0, 30.0, 0.0])
    demand = blend.recent_demand(cols, ages, n_items=4, days=7)
    assert demand.tolist() == pytest.approx(np.log1p([2, 1, 0, 0]).tolist())


def test_a_season_is_learnt_from_the_validation_month_and_wins_the_next_month():
    shop = seasonal_shop()
    # tune on days 0-300 with 300-330 held out; test on 330-360, never seen by the tuning
    validation = window(shop, end_day=330, cutoff_day=300)
    # no guard: here a random hold-out of the year is all taste (the next test)
    best, trials = blend.tune(validation, start=FAST, candidates=[replace(FAST, factors=4)])
    assert best.trend_weight > 0  # the season is in the winner
    assert best.trend_weight < 1  # and so is the users' own taste
    test = window(shop, end_day=361, cutoff_day=330)
    plain = replace(best, item_weight=0.0, trend_weight=0.0)
    only_trend = replace(best, item_weight=0.0, trend_weight=1.0)
    assert ndcg(best, test) > 1.05 * ndcg(plain, test)
    assert ndcg(best, test) > 1.5 * ndcg(only_trend, test)
    assert len(trials) > 100
    assert {t["family"] for t in trials} >= {"als", "trend", "bm25"}


def test_the_guard_keeps_out_a_blend_that_forgets_the_users_taste():
    shop = seasonal_shop(seed=1)
    validation = window(shop, end_day=330, cutoff_day=300)
    best, trials = blend.tune(validation, start=FAST, candidates=[], guard=guard_of(validation))
    floor = trials[0]["guard_ndcg@10"] * (1 + blend.GUARD_MARGIN)  # plain ALS, and a margin
    winner = next(t for t in trials if t["params"] == best.as_dict())
    assert winner["eligible"] is True
    assert winner is trials[0] or winner["guard_ndcg@10"] >= floor
    better = [t for t in trials if t["ndcg@10"] > winner["ndcg@10"] and "guard_ndcg@10" in t]
    # a random hold-out of the year's pairs is mostly taste: the season-heavy blends that
    # beat the winner on the validation month lost there to plain ALS, and were refused
    assert better
    assert all(t["eligible"] is False and t["guard_ndcg@10"] < floor for t in better)
    assert best.trend_weight < max(t["params"]["trend_weight"] for t in better)
    checked = [t for t in trials if "guard_ndcg@10" in t]
    assert len(checked) <= blend.GUARD_CHECKS + 1  # the starting point and the best few


def paired_shop(n_users: int = 300, pairs: int = 20, seed: int = 0) -> sp.csr_matrix:
    """Items come in pairs (2k, 2k + 1); each user buys both items of three pairs."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((n_users, 2 * pairs), np.float32)
    for user in range(n_users):
        for pair in rng.choice(pairs, 3, replace=False):
            dense[user, [2 * pair, 2 * pair + 1]] = 1
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("weighting", sorted(blend.WEIGHTINGS))
def test_item_item_finds_the_other_half_of_a_pair_and_names_it_as_the_reason(weighting):
    full = paired_shop()
    train = full.tolil()
    which = np.random.default_rng(1).integers(0, 3, full.shape[0])
    held_out = np.array([full[user].indices[2 * which[user] + 1] for user in range(full.shape[0])])
    for user in range(full.shape[0]):  # hold out the second half of one of the user's pairs
        train[user, held_out[user]] = 0
    train = train.tocsr()
    train.eliminate_zeros()
    params = replace(FAST, item_weight=1.0, item_weighting=weighting, item_neighbours=5)
    model = blend.fit(train, params)
    top, _ = blend.top_n(model, train, train, n=1)
    assert (top[:, 0] == held_out).mean() > 0.9
    because = blend.item_contributors(model.similarity, train, top)
    hits = top[:, 0] == held_out
    assert (because[hits, 0] == held_out[hits] - 1).all()  # its pair's first half


def test_with_no_extra_weight_the_blend_ranks_as_plain_als_and_a_blend_never_offers_the_excluded():
    matrix = paired_shop()
    model = blend.fit(matrix, FAST)
    assert model.plain
    plain, _ = als.top_n(model.model, matrix, n=5)
    dense, _ = blend.top_n(model, matrix, matrix, n=5, user_factors=model.model.user_factors)
    assert (plain == dense).mean() > 0.95  # same ranking (float ties aside)
    mixed = blend.fit(
        matrix, replace(FAST, item_weight=0.4, trend_weight=0.3),
        demand=np.log1p(np.asarray(matrix.sum(axis=0)).ravel()).astype(np.float32),
    )  # fmt: skip
    blocked = np.array([0, 1, 2])
    top, scores = blend.top_n(mixed, matrix, matrix, n=40, filter_items=blocked)
    for user in range(matrix.shape[0]):
        shown = set(top[user][top[user] >= 0])
        assert not shown & set(matrix[user].indices)
        assert not shown & set(blocked)
        assert len(shown) == 40 - len(set(matrix[user].indices) | set(blocked))
    assert (np.diff(scores, axis=1)[top[:, 1:] >= 0] <= 1e-6).all()


@pytest.mark.parametrize(
    "changes",
    [{"item_weight": -0.1}, {"trend_weight": 1.5}, {"item_weight": 0.6, "trend_weight": 0.6},
     {"item_neighbours": 0}, {"trend_days": 0.0}, {"trend_days": float("nan")}],
)  # fmt: skip
def test_parameters_out_of_range_are_refused(changes):
    with pytest.raises(ValueError, match="must be"):
        als.AlsParams(**changes)


def test_a_blend_with_a_trend_needs_the_demand():
    with pytest.raises(ValueError, match="recent demand"):
        blend.fit(paired_shop(), replace(FAST, trend_weight=0.5))
