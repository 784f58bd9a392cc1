"""Approximate search for a large catalogue: the inverted lists probed per run to reach a
recall target against exact scoring."""

import numpy as np
import scipy.sparse as sp

from recommendations.ml.data import best_unseen
from recommendations.ml.neighbours import ApproximateColumns, probes_for_recall


def _vectors(clustered: bool, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """4,000 items and 600 users in 16 dimensions: around 40 planted centres, or spread
    evenly (nothing for the inverted lists to follow)."""
    rng = np.random.default_rng(seed)
    if not clustered:
        return (rng.standard_normal((n, 16)).astype(np.float32) for n in (4000, 600))
    centres = rng.standard_normal((40, 16)) * 3
    items = centres[rng.integers(0, 40, 4000)] + rng.standard_normal((4000, 16)) * 0.3
    users = centres[rng.integers(0, 40, 600)] + rng.standard_normal((600, 16)) * 0.3
    return items.astype(np.float32), users.astype(np.float32)


def test_the_fewest_probes_that_reach_the_target_are_chosen_and_exclusions_hold():
    rng = np.random.default_rng(1)
    chosen = {}
    for clustered in (True, False):
        items, users = _vectors(clustered)
        seen = sp.random(600, 4000, density=0.01, format="csr", random_state=rng)
        blocked = np.arange(0, 4000, 50)
        index = ApproximateColumns(items, blocked=blocked)

        def approximate(rows, index=index, users=users, seen=seen):
            return index.best_unseen(users[rows], k=20, exclude=seen[rows])[0]

        def exact(rows, items=items, users=users, seen=seen, blocked=blocked):
            return best_unseen(users[rows], items, k=20, exclude=seen[rows], blocked=blocked)[0]

        meta = probes_for_recall(index, approximate, exact, 600, target=0.95, sample=300)
        chosen[clustered] = meta["probes"]
        assert meta["recall"] >= 0.95
        assert index.probes == meta["probes"] <= index.lists
        if meta["probes"] > 16:  # one doubling fewer missed the target
            index.probes = meta["probes"] // 2
            sample = np.arange(0, 600, 2)
            found, truth = approximate(sample), exact(sample)
            hits = [np.isin(t, f).mean() for f, t in zip(found, truth, strict=True)]
            assert np.mean(hits) < 0.95 + 0.01
            index.probes = meta["probes"]
        found = approximate(np.arange(600))
        assert not np.isin(found, blocked).any()
        rows, cols = np.nonzero(found >= 0)
        assert not np.asarray(seen[rows, found[rows, cols]]).any()  # nothing swiped offered
    assert chosen[True] < chosen[False]  # planted clusters need far fewer lists


def test_probing_every_list_finds_exactly_what_scoring_every_column_finds():
    items, users = _vectors(True, seed=3)
    rng = np.random.default_rng(4)
    seen = sp.random(600, 4000, density=0.02, format="lil", random_state=rng)
    seen[5] = 0  # a user who saw nothing
    seen[7, :3990] = 1  # one who saw all but ten: fewer than k remain
    seen = seen.tocsr()
    blocked = np.arange(0, 4000, 50)
    index = ApproximateColumns(items, blocked=blocked)
    index.probes = index.lists
    found, scores = index.best_unseen(users, k=30, exclude=seen, batch=128)
    truth, truth_scores = best_unseen(users, items, k=30, exclude=seen, blocked=blocked)
    assert (found == truth).mean() > 0.999  # float ties may swap neighbours
    np.testing.assert_allclose(scores, truth_scores, rtol=1e-4, atol=1e-4)
    assert (found[7] >= 0).sum() == len(set(range(3990, 4000)) - set(blocked.tolist()))
    assert (found[7][found[7] >= 0] >= 3990).all()
