"""Re-ranking for a swipe deck: no run of near-duplicates, and a share of exploration."""

from collections import deque

import numpy as np
import numpy.typing as npt


def diversify(
    clusters: npt.NDArray[np.int64], *, n: int, window: int = 10, max_per_window: int = 3
) -> npt.NDArray[np.int64]:
    """Positions (into the ranked candidates) of a list of up to `n` in which no cluster
    appears more than `max_per_window` times in any `window` consecutive entries.

    Greedy: walk the candidates best first and take each one whose cluster still has room
    in the last `window - 1` picks; skipped ones wait and are retried as the window moves.
    If the candidates run out, the waiting ones fill the end in rank order.
    """
    chosen: list[int] = []
    recent: deque[int] = deque()  # clusters of the last `window - 1` picks
    in_recent: dict[int, int] = {}
    waiting: list[int] = []
    cluster_of = clusters.tolist()

    def fits(position: int) -> bool:
        return in_recent.get(cluster_of[position], 0) < max_per_window

    def take(position: int) -> None:
        chosen.append(position)
        cluster = cluster_of[position]
        recent.append(cluster)
        in_recent[cluster] = in_recent.get(cluster, 0) + 1
        if len(recent) > window - 1:
            in_recent[recent.popleft()] -= 1

    for position in range(len(cluster_of)):
        if len(chosen) >= n:
            break
        for queued in list(waiting):
            if len(chosen) < n and fits(queued):
                waiting.remove(queued)
                take(queued)
        if len(chosen) >= n:
            break
        if fits(position):
            take(position)
        else:
            waiting.append(position)
    chosen.extend(waiting[: n - len(chosen)])
    return np.asarray(chosen, dtype=np.int64)


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
    """Replace `share` of the entries (never the first) with items drawn from `pool`.

    Returns the new list and a mask of the explored entries.
    """
    ranked = np.asarray(ranked).copy()
    explored = np.zeros(len(ranked), dtype=bool)
    fresh = np.setdiff1d(pool, ranked)
    count = min(round(len(ranked) * share), len(fresh), max(len(ranked) - 1, 0))
    if count:
        positions = rng.choice(np.arange(1, len(ranked)), count, replace=False)
        ranked[positions] = rng.choice(fresh, count, replace=False)
        explored[positions] = True
    return ranked, explored


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
