from pathlib import Path

import numpy as np
import pytest

from recommendations.ml.basket import BasketParams, mine, rule_counts_by_length

GROCERIES = (
    Path(__file__).resolve().parents[3].parent / "shared" / "data" / "groceries" / "groceries.csv"
)


def planted_baskets() -> list[list[str]]:
    """100 baskets: the pair (bread, butter) in 30 of them, bread alone in 10, butter in 20."""
    rng = np.random.default_rng(0)
    fillers = [f"f{i}" for i in range(30)]
    baskets = []
    for n in range(100):
        basket = list(rng.choice(fillers, 2, replace=False))
        if n < 30:
            basket += ["bread", "butter"]
        elif n < 40:
            basket.append("bread")
        elif n < 60:
            basket.append("butter")
        baskets.append(basket)
    return baskets


def test_a_planted_pair_comes_back_with_its_hand_computed_lift():
    rules = mine(planted_baskets(), BasketParams(min_support=0.2, min_confidence=0.1)).rules
    rule = rules[rules["antecedents"] == frozenset({"bread"})].iloc[0]
    assert rule["consequents"] == frozenset({"butter"})
    # support(bread, butter) = .30, support(bread) = .40, support(butter) = .50
    assert rule["support"] == pytest.approx(0.30)
    assert rule["confidence"] == pytest.approx(0.30 / 0.40)
    assert rule["lift"] == pytest.approx(0.30 / (0.40 * 0.50))


def test_rules_below_the_thresholds_are_dropped():
    baskets = planted_baskets()
    assert mine(baskets, BasketParams(min_support=0.2, min_confidence=0.8)).rules.empty
    assert mine(baskets, BasketParams(min_support=0.2, min_lift=1.6)).rules.empty


def test_integer_item_ids_come_back_as_integers():
    baskets = [[1, 2], [1, 2], [1, 3], [2, 3]]
    rules = mine(baskets, BasketParams(min_support=0.5, min_confidence=0.1, min_lift=0)).rules
    assert {item for s in rules["antecedents"] for item in s} == {1, 2}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_support", -0.1),
        ("min_support", 0),
        ("min_confidence", 1.5),
        ("min_lift", -1),
        ("max_len", 1),
    ],
)
def test_bad_options_are_refused_with_their_name(field, value):
    with pytest.raises(ValueError, match=field):
        mine([["a", "b"]], BasketParams(**{field: value}))


@pytest.mark.skipif(
    not GROCERIES.is_file(),
    reason="../shared/data/groceries/groceries.csv is absent (a user's clone has no ../shared)",
)
def test_groceries_rules_match_r_arules_exactly():
    baskets = [line.strip().split(",") for line in GROCERIES.open() if line.strip()]
    assert len(baskets) == 9835
    mined = mine(baskets, BasketParams(min_support=0.006, min_confidence=0.25, min_lift=0))
    assert len(mined.rules) == 463
    assert rule_counts_by_length(mined.rules) == {2: 150, 3: 297, 4: 16}
