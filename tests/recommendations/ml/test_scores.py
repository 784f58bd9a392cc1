import numpy as np
import pytest

from recommendations.ml.data import ScoreTable
from recommendations.ml.scores import ScoreRows, pair_keys


def rows_of(table: ScoreRows) -> list[tuple]:
    return list(zip(*(column.tolist() for column in table.columns()), strict=True))


def test_rows_are_sorted_by_user_then_item_and_only_liked_or_bought_pairs_stay():
    rows = ScoreRows.of(
        [2, 1, 2, 1, 3], [5, 9, 1, 3, 3], [1.0, 2.0, -1.0, 0.5, 0.0], [10, 20, 30, 40, 50],
        [False, False, False, True, True],
    )  # fmt: skip
    assert rows_of(rows) == [
        (1, 3, 0.5, 40.0, True),
        (1, 9, 2.0, 20.0, False),
        (2, 5, 1.0, 10.0, False),
        (3, 3, 0.0, 50.0, True),  # bought, then returned: still left out of top buys
    ]  # (2, 1): disliked and never bought


def test_changed_rows_replace_their_pairs_add_new_ones_and_drop_those_fallen_to_zero():
    base = ScoreRows.of([1, 1, 2, 3], [1, 2, 1, 7], [1.0, 2.0, 3.0, 4.0], [0] * 4, [False] * 4)
    merged = base.merged(
        [1, 2, 3, 0, 3], [2, 1, 8, 4, 7], [5.0, -1.0, 6.0, 0.0, -2.0], [9] * 5,
        [False, False, False, False, True],
    )  # fmt: skip
    assert rows_of(merged) == [
        (1, 1, 1.0, 0.0, False),
        (1, 2, 5.0, 9.0, False),  # changed
        (3, 7, -2.0, 9.0, True),  # bought, then disliked: kept for the bought mark
        (3, 8, 6.0, 9.0, False),  # new
    ]  # (2, 1) fell below zero; (0, 4) is new at zero: neither is kept
    assert base.merged([], [], [], [], []) is base


def test_a_merge_equals_reading_everything_again():
    rng = np.random.default_rng(4)
    pairs = rng.choice(50 * 40, size=600, replace=False)
    users, items = pairs // 40, pairs % 40
    scores, times = rng.normal(1, 1, 600), rng.random(600) * 1e9
    bought = rng.random(600) < 0.2
    before = ScoreRows.of(users, items, scores, times, bought)
    changed = rng.choice(600, size=90, replace=False)
    scores[changed] = rng.normal(0, 2, 90)
    times[changed] += 5
    bought[changed] |= rng.random(90) < 0.3
    merged = before.merged(
        users[changed], items[changed], scores[changed], times[changed], bought[changed]
    )
    assert rows_of(merged) == rows_of(ScoreRows.of(users, items, scores, times, bought))


def test_rows_survive_storage_and_a_damaged_file_is_refused():
    rows = ScoreRows.of([3, 1], [4, 2], [1.5, 2.5], [1.7e9, 1.6e9], [True, False])
    assert rows_of(ScoreRows.from_bytes(rows.to_bytes())) == rows_of(rows)
    with pytest.raises(ValueError, match="not a whole score snapshot"):
        ScoreRows.from_bytes(rows.to_bytes()[:-40])


def test_pair_keys_sort_like_the_pairs_and_refuse_ids_they_cannot_hold():
    keys = pair_keys([1, 1, 2], [7, 2**32 - 1, 0])
    assert keys.tolist() == sorted(keys.tolist())
    with pytest.raises(ValueError, match="out of the range"):
        pair_keys([2**31], [1])
    with pytest.raises(ValueError, match="out of the range"):
        pair_keys([1], [-1])


def test_sorted_rows_build_the_same_matrix_as_rows_in_any_order():
    rng = np.random.default_rng(1)
    pairs = rng.choice(30 * 20, size=200, replace=False)
    users, items = pairs // 20 + 100, pairs % 20 + 500
    scores, ages = rng.random(200) + 0.1, rng.random(200) * 30
    shuffled = ScoreTable.of(users, items, scores, ages)
    rows = ScoreRows.of(users, items, scores, ages, np.zeros(200, bool))
    ordered = ScoreTable.of(rows.user_ids, rows.item_ids, rows.scores, rows.times)
    assert ordered._in_matrix_order
    assert not shuffled._in_matrix_order
    mask = rng.random(200) < 0.3
    for table_mask, order_mask in ((None, None), (mask, mask[np.lexsort((items, users))])):
        a = shuffled.matrix(half_life_days=10, mask=table_mask)
        b = ordered.matrix(half_life_days=10, mask=order_mask)
        assert (a != b).nnz == 0
        assert b.has_canonical_format
