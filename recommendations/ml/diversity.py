"""Re-ranking for a swipe deck: no run of near-duplicates, and a share of exploration."""

import numba
import numpy as np
import numpy.typing as npt

from recommendations.ml.data import in_sorted_rows


def diversify(
    clusters: npt.NDArray[np.int64], *, n: int, window: int = 10, max_per_window: int = 3
) -> npt.NDArray[np.int64]:
    """Positions (into the ranked candidates) of a list of up to `n` in which no cluster
    appears more than `max_per_window` times in any `window` consecutive entries: one row of
    `diversify_rows`."""
    clusters = np.asarray(clusters, dtype=np.int64)[None, :]
    picked = diversify_rows(
        clusters, np.ones(clusters.shape, bool), n=n, window=window, max_per_window=max_per_window
    )[0]
    return picked[picked >= 0]


def diversify_rows(
    clusters: npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    *,
    n: int,
    window: int = 10,
    max_per_window: int = 3,
) -> npt.NDArray[np.int64]:
    """For every row of ranked candidates (rows x candidates: their clusters, and which are
    real), the positions of a list of up to `n` in which no cluster appears more than
    `max_per_window` times in any `window` consecutive entries; -1 pads a row's end.

    Greedy, row by row in compiled code: walk the candidates best first and take each one
    whose cluster still has room in the last `window - 1` picks; skipped ones wait and are
    retried (best first) before every later candidate. If the candidates run out, the waiting
    ones fill the end in rank order.
    """
    if window < 2:
        raise ValueError("window must be at least 2")
    clusters = np.ascontiguousarray(clusters, dtype=np.int64)
    n = min(n, clusters.shape[1])
    return _diversify(
        clusters, np.ascontiguousarray(valid, dtype=np.bool_), n, window, max_per_window
    )


@numba.njit(cache=True, nogil=True)
def _diversify(clusters, valid, n, window, max_per_window):  # pragma: no cover - compiled
    rows, width = clusters.shape
    out = np.full((rows, n), -1, dtype=np.int64)
    recent = np.empty(window - 1, dtype=np.int64)
    waiting = np.empty(width, dtype=np.int64)
    for row in range(rows):
        chosen = 0
        held = 0  # entries in `recent` (a ring, oldest at chosen - held)
        queued = 0
        for position in range(width + 1):
            if chosen >= n:
                break
            # retry the waiting ones, best first
            kept = 0
            for w in range(queued):
                candidate = waiting[w]
                if chosen < n and _room(clusters[row, candidate], recent, held, max_per_window):
                    out[row, chosen] = candidate
                    chosen, held = _remember(clusters[row, candidate], recent, chosen, held)
                else:
                    waiting[kept] = candidate
                    kept += 1
            queued = kept
            if chosen >= n or position == width:
                break
            if not valid[row, position]:
                continue
            if _room(clusters[row, position], recent, held, max_per_window):
                out[row, chosen] = position
                chosen, held = _remember(clusters[row, position], recent, chosen, held)
            else:
                waiting[queued] = position
                queued += 1
        for w in range(queued):
            if chosen >= n:
                break
            out[row, chosen] = waiting[w]
            chosen += 1
    return out


@numba.njit(cache=True, nogil=True)
def _remember(cluster, recent, chosen, held):  # pragma: no cover - compiled
    """The pick's cluster into the ring of the last len(recent) picks; the new counts."""
    recent[chosen % len(recent)] = cluster
    return chosen + 1, min(held + 1, len(recent))


@numba.njit(cache=True, nogil=True)
def _room(cluster, recent, held, max_per_window):  # pragma: no cover - compiled
    count = 0
    for i in range(held):
        if recent[i] == cluster:
            count += 1
    return count < max_per_window


def longest_cluster_count(clusters: npt.ArrayLike, *, window: int = 10) -> int:
    """The most entries any one cluster has in any `window` consecutive entries."""
    clusters = list(clusters)
    worst = 0
    for start in range(max(len(clusters) - window + 1, 1)):
        part = clusters[start : start + window]
        worst = max(worst, max((part.count(c) for c in set(part)), default=0))
    return worst


def explore(
    ranked: npt.NDArray[np.int64],
    pool: npt.NDArray[np.int64],
    *,
    share: float,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Replace `share` of the entries (never the first) with items drawn from `pool`: one row
    of `explore_rows`. Returns the new list and a mask of the explored entries."""
    ranked = np.asarray(ranked, dtype=np.int64)
    pool = np.asarray(pool, dtype=np.int64)
    out, explored = explore_rows(ranked[None, :], pool[None, :], share=share, rng=rng)
    return out[0], explored[0]


def explore_rows(
    ranked: npt.NDArray[np.int64],
    pools: npt.NDArray[np.int64],
    *,
    share: float,
    rng: np.random.Generator,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Every row's list (rows x n item indices, -1 pads a row's end) with `share` of its
    entries (never the first) replaced by distinct items drawn from its pool (rows x m, -1 for
    none) that are not in the list already. Returns the lists and a mask of explored entries."""
    ranked = np.ascontiguousarray(ranked, dtype=np.int64)
    pools = np.ascontiguousarray(pools, dtype=np.int64)
    return _explore(ranked, pools, share, rng.random(pools.shape), rng.random(ranked.shape))


@numba.njit(cache=True, nogil=True, parallel=True)
def _explore(ranked, pools, share, pool_keys, place_keys):  # pragma: no cover - compiled
    rows, width = ranked.shape
    out = ranked.copy()
    explored = np.zeros((rows, width), dtype=np.bool_)
    for row in numba.prange(rows):
        length = 0
        while length < width and ranked[row, length] >= 0:
            length += 1
        listed = np.sort(ranked[row, :length])
        order = np.argsort(pools[row])
        fresh = np.empty(len(order), dtype=np.int64)  # positions in the pool
        found = 0
        last = -1
        for j in order:
            item = pools[row, j]
            if item < 0 or item == last:
                continue
            last = item
            at = np.searchsorted(listed, item)
            if at < length and listed[at] == item:
                continue
            fresh[found] = j
            found += 1
        count = min(int(np.round(length * share)), found, max(length - 1, 0))
        if count <= 0:
            continue
        drawn = fresh[:found][np.argsort(pool_keys[row, fresh[:found]])[:count]]
        places = 1 + np.argsort(place_keys[row, 1:length])[:count]
        for k in range(count):
            out[row, places[k]] = pools[row, drawn[k]]
            explored[row, places[k]] = True
    return out, explored


def in_rows(values: npt.NDArray[np.int64], other: npt.NDArray[np.int64]) -> npt.NDArray:
    """Whether each of `values` (rows x a) is in the same row of `other` (rows x b); -1 (no
    entry) is never found."""
    listed = np.sort(np.asarray(other, dtype=np.int64), axis=1)
    starts = np.arange(len(listed) + 1, dtype=np.int64) * listed.shape[1]
    return in_sorted_rows(np.ascontiguousarray(values, dtype=np.int64), starts, listed.ravel())


def round_robin(
    groups: npt.NDArray[np.int64],
    popularity: npt.NDArray[np.float64],
    *,
    allowed: npt.NDArray[np.bool_],
    n: int,
) -> npt.NDArray[np.int64]:
    """Up to `n` allowed item indices taking one item of each group in turn, each group's
    most popular first; the groups ordered by their most popular item (ties by index)."""
    candidates = np.flatnonzero(allowed)
    order = candidates[np.lexsort((candidates, -popularity[candidates]))]
    by_group: dict[int, list[int]] = {}
    for item in order.tolist():
        by_group.setdefault(int(groups[item]), []).append(item)
    queues = list(by_group.values())  # in order of each group's best item
    picked: list[int] = []
    depth = 0
    while len(picked) < n and any(depth < len(q) for q in queues):
        picked.extend(q[depth] for q in queues if depth < len(q))
        depth += 1
    return np.asarray(picked[:n], dtype=np.int64)
