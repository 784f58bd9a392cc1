"""Id <-> index maps, the sparse users x items matrix, and train/test splits."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


def top_k(scores: npt.NDArray, k: int) -> npt.NDArray[np.int64]:
    """Column indices of each row's `k` highest scores, best first (k <= columns)."""
    head = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, head, axis=1), axis=1, kind="stable")
    return np.take_along_axis(head, order, axis=1)


def best_unseen(
    left: npt.NDArray[np.float32],
    right: npt.NDArray[np.float32],
    *,
    k: int,
    exclude: sp.csr_matrix | None = None,
    blocked: npt.NDArray[np.int64] | None = None,
    batch: int = 1000,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """For each row of `left`, the `k` columns of `left @ right.T` with the highest scores
    outside that row of `exclude` and the `blocked` columns, best first, and their scores; -1
    and 0 pad rows with fewer. One dense batch of rows at a time, multiplied and selected by
    torch on every core (implicit's top-k masks its filter one row at a time in Python)."""
    import torch  # heavy: imported by the batch jobs only

    rows = len(left)
    k = min(k, right.shape[0])
    ids = np.full((rows, k), -1, dtype=np.int64)
    values = np.zeros((rows, k), dtype=np.float32)
    columns = torch.from_numpy(np.ascontiguousarray(right, dtype=np.float32))
    blocked_t = None if blocked is None or not len(blocked) else torch.from_numpy(blocked)
    exclude = None if exclude is None else exclude.tocsr()
    with torch.inference_mode():
        for start in range(0, rows, batch):
            stop = min(start + batch, rows)
            part = torch.from_numpy(np.ascontiguousarray(left[start:stop], dtype=np.float32))
            scores = part @ columns.T
            if exclude is not None:
                hidden = exclude[start:stop]
                owners = np.repeat(np.arange(stop - start), np.diff(hidden.indptr))
                scores[
                    torch.from_numpy(owners), torch.from_numpy(hidden.indices.astype(np.int64))
                ] = -torch.inf
            if blocked_t is not None:
                scores[:, blocked_t] = -torch.inf
            got, best = torch.topk(scores, k, dim=1)
            got, best = got.numpy(), best.numpy()
            valid = np.isfinite(got)
            ids[start:stop] = np.where(valid, best, -1)
            values[start:stop] = np.where(valid, got, 0)
    return ids, values


def in_csr_rows(values: npt.NDArray[np.int64], matrix: sp.csr_matrix) -> npt.NDArray[np.bool_]:
    """Whether each of `values` (rows x k column indices, -1 for none) is a stored column of
    the same row of `matrix` (rows x columns); -1 is never found. A binary search in each
    row's sorted columns, in compiled code."""
    matrix = matrix.tocsr()
    if not matrix.has_sorted_indices:
        matrix = matrix.sorted_indices()
    values = np.ascontiguousarray(values, dtype=np.int64)
    if values.ndim != 2 or len(values) != matrix.shape[0]:
        raise ValueError("values need one row per row of the matrix")
    return in_sorted_rows(values, matrix.indptr.astype(np.int64), matrix.indices)


@numba.njit(cache=True, nogil=True, parallel=True)
def in_sorted_rows(values, indptr, indices):  # pragma: no cover - compiled
    """Whether each of `values` (rows x k) is among indices[indptr[r]:indptr[r + 1]] (sorted)
    for its row r; negative values are never found. Compiled, a binary search per value."""
    rows, width = values.shape
    found = np.zeros((rows, width), dtype=np.bool_)
    for row in numba.prange(rows):
        columns = indices[indptr[row] : indptr[row + 1]]
        if not len(columns):
            continue
        for j in range(width):
            value = values[row, j]
            if value < 0:
                continue
            at = np.searchsorted(columns, value)
            found[row, j] = at < len(columns) and columns[at] == value
    return found


def row_products(
    left: npt.NDArray[np.float32], right: npt.NDArray[np.float32], picks: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """For each row r of `picks` (rows x k indices into `right`, -1 for none), the products
    left[r] . right[picks[r, j]] (0 for none), without gathering the picked rows first."""
    return _row_products(
        np.ascontiguousarray(left, dtype=np.float32),
        np.ascontiguousarray(right, dtype=np.float32),
        np.ascontiguousarray(picks, dtype=np.int64),
    )


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _row_products(left, right, picks):  # pragma: no cover - compiled
    rows, width = picks.shape
    out = np.zeros((rows, width), dtype=np.float32)
    for row in numba.prange(rows):
        for j in range(width):
            pick = picks[row, j]
            if pick < 0:
                continue
            total = np.float32(0.0)
            for f in range(left.shape[1]):
                total += left[row, f] * right[pick, f]
            out[row, j] = total
    return out


Adjust = Callable[[npt.NDArray[np.int64], npt.NDArray[np.float32]], npt.NDArray[np.float32]]


def top_k_of_products(
    left: sp.csr_matrix | npt.NDArray,
    right: sp.csr_matrix | npt.NDArray,
    *,
    k: int,
    rows: npt.NDArray[np.int64] | None = None,
    batch: int = 1000,
    adjust: Adjust | None = None,
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
    """Batch by batch of `rows` of `left` (all by default): those rows, the column indices of
    their `k` highest scores in `left[rows] @ right.T` (after `adjust(rows, scores)`, which may
    blend or mask in place, -inf for never), best first, and the scores."""
    rows = np.arange(left.shape[0]) if rows is None else np.asarray(rows)
    k = min(k, right.shape[0])
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        scores = left[part] @ right.T
        scores = np.asarray(scores.todense() if sp.issparse(scores) else scores, dtype=np.float32)
        if adjust is not None:
            scores = adjust(part, scores)
        yield part, top_k(scores, k), scores


def unit_rows(vectors: npt.NDArray) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (cosine similarity is then a dot product)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _dense_ok(ids: npt.NDArray[np.int64], largest: int) -> bool:
    """Whether a lookup table up to the largest id is cheap (database ids mostly are)."""
    return len(ids) > 0 and int(ids.min()) >= 0 and largest < 8 * len(ids) + 1_000_000


@dataclass(frozen=True)
class IdIndex:
    """Sorted database ids; the position of an id is its row or column index."""

    ids: npt.NDArray[np.int64]

    @classmethod
    def of(cls, ids: npt.ArrayLike) -> "IdIndex":
        ids = np.asarray(ids, dtype=np.int64)
        if _dense_ok(ids, int(ids.max()) if len(ids) else 0):
            present = np.zeros(int(ids.max()) + 1, dtype=bool)  # O(n), no sort
            present[ids] = True
            return cls(np.flatnonzero(present).astype(np.int64))
        return cls(np.unique(ids))

    def __len__(self) -> int:
        return len(self.ids)

    def __getstate__(self) -> dict:
        return {"ids": self.ids}  # the lookup table is rebuilt on demand, not pickled

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "ids", state["ids"])

    @cached_property
    def _table(self) -> npt.NDArray[np.int64] | None:
        """position by id, for ids small enough to index an array with (else None)."""
        if not _dense_ok(self.ids, int(self.ids[-1]) if len(self.ids) else 0):
            return None
        table = np.full(int(self.ids[-1]) + 1, -1, dtype=np.int64)
        table[self.ids] = np.arange(len(self.ids))
        return table

    def index_of(self, ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Indices of `ids`; -1 where an id is unknown."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
        table = self._table
        if table is not None:
            inside = (ids >= 0) & (ids < len(table))
            return np.where(inside, table[np.where(inside, ids, 0)], -1)
        pos = np.searchsorted(self.ids, ids).clip(max=len(self.ids) - 1)
        return np.where(self.ids[pos] == ids, pos, -1)


@dataclass(frozen=True)
class Interactions:
    """A users x items matrix with the maps back to database ids."""

    user_items: sp.csr_matrix
    users: IdIndex
    items: IdIndex


def build_matrix(
    user_ids: npt.ArrayLike,
    item_ids: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    users: IdIndex | None = None,
    items: IdIndex | None = None,
) -> Interactions:
    """Sum `values` per (user, item) into a float32 CSR; rows of unknown ids are dropped."""
    users = users or IdIndex.of(user_ids)
    items = items or IdIndex.of(item_ids)
    rows, cols = users.index_of(user_ids), items.index_of(item_ids)
    keep = (rows >= 0) & (cols >= 0)
    matrix = _summed_csr(np.asarray(values)[keep], rows, cols, keep, (len(users), len(items)))
    return Interactions(matrix, users, items)


def _summed_csr(
    values: npt.ArrayLike,
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    keep: npt.NDArray[np.bool_],
    shape: tuple[int, int],
) -> sp.csr_matrix:
    """float32 CSR of the kept (row, col) entries, one of `values` per kept entry, repeated
    pairs summed."""
    values = np.asarray(values, dtype=np.float32)
    matrix = sp.csr_matrix((values, (rows[keep], cols[keep])), shape=shape, dtype=np.float32)
    matrix.sum_duplicates()
    return matrix


def positive_part(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Only the entries above zero (dislikes and refunds dropped), as confidence."""
    out = matrix.copy()
    out.data[out.data < 0] = 0
    out.eliminate_zeros()
    return out


def split_random(
    user_items: sp.csr_matrix, *, test_fraction: float, seed: int, min_items: int = 2
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Per user with at least `min_items` items, hold out a random `test_fraction` of them."""
    coo = user_items.tocoo()
    is_test = holdout_mask(coo.row, test_fraction=test_fraction, seed=seed, min_items=min_items)

    def part(mask: npt.NDArray[np.bool_]) -> sp.csr_matrix:
        return sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=coo.shape)

    return part(~is_test), part(is_test)


def split_by_time(
    rows: npt.NDArray[np.int64],
    cols: npt.NDArray[np.int64],
    values: npt.NDArray[np.float32],
    times: npt.NDArray[np.float64],
    *,
    cutoff: float,
    shape: tuple[int, int],
    new_items_only: bool = True,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Train on what happened before `cutoff`, test on positive events from it on.

    With `new_items_only` a test entry the user already had in training is dropped (what a
    "top buys, excluding bought items" list can possibly get right).
    """
    before = times < cutoff
    train = sp.csr_matrix((values[before], (rows[before], cols[before])), shape=shape)
    train.sum_duplicates()
    train = positive_part(train)
    after = ~before & (values > 0)
    test = sp.csr_matrix(
        (np.ones(after.sum(), np.float32), (rows[after], cols[after])), shape=shape
    )
    test.sum_duplicates()
    test.data[:] = 1
    if new_items_only:
        test = test - test.multiply(train > 0)
        test.eliminate_zeros()
    return train.tocsr(), test.tocsr()


def confidence(
    scores: npt.NDArray[np.float64], age_days: npt.NDArray[np.float64], *, half_life_days: float
) -> npt.NDArray[np.float32]:
    """ALS input per (user, item): log(1 + score), halved every `half_life_days` since the
    pair was last active; zero for scores at or below zero.

    The log keeps a hundred rebuys from drowning out everything else; the decay lets recent
    taste (a season, a new interest) outweigh last year's (on Online Retail it lifted nDCG@10
    by about a fifth, see docs/benchmarks.md).
    """
    positive = np.maximum(np.asarray(scores, dtype=np.float64), 0)
    decay = np.exp2(-np.maximum(age_days, 0) / half_life_days) if half_life_days > 0 else 1.0
    return (np.log1p(positive) * decay).astype(np.float32)


def common_rows(
    before: npt.NDArray[np.int64], now: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Where the ids in both sorted arrays are: (their positions in `before`, in `now`)."""
    if not len(now) or not len(before):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    at = np.searchsorted(now, before).clip(max=len(now) - 1)
    kept = np.flatnonzero(now[at] == before)
    return kept, at[kept]


def _mixed(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser: every bit of `x` spread over the result (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def stable_uniform(*keys: npt.ArrayLike, seed: int) -> npt.NDArray[np.float64]:
    """A number in [0, 1) per row of the integer `keys` columns that depends on those values
    and `seed` only: a row gets the same number in every run, whatever else is in the data, so
    a split drawn from it keeps its old rows where they were as new rows arrive."""
    with np.errstate(over="ignore"):
        h = _mixed(np.full(np.shape(keys[0]), seed, dtype=np.int64).astype(np.uint64))
        for key in keys:
            h = _mixed(h ^ np.asarray(key, dtype=np.int64).astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def holdout_mask(
    rows: npt.NDArray[np.int64],
    *,
    test_fraction: float,
    seed: int,
    min_items: int = 2,
    draws: npt.NDArray[np.float64] | None = None,
) -> npt.NDArray[np.bool_]:
    """Mark a random `test_fraction` (at least one) of each row's entries, for rows with at
    least `min_items` entries: those with the lowest `draws` (default: seeded random numbers;
    `stable_uniform` keeps the split stable from run to run)."""
    rows = np.asarray(rows)
    if draws is None:
        draws = np.random.default_rng(seed).random(len(rows))
    order = np.lexsort((draws, rows))
    sorted_rows = rows[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_rows)) + 1]
    counts = np.diff(np.r_[starts, len(rows)])
    rank = np.arange(len(rows)) - np.repeat(starts, counts)
    n_test = np.where(counts >= min_items, np.maximum(1, np.floor(counts * test_fraction)), 0)
    mask = np.zeros(len(rows), dtype=bool)
    mask[order] = rank < np.repeat(n_test, counts)
    return mask


@dataclass(frozen=True)
class ScoreTable:
    """Aggregated (user, item) scores and how many days ago each pair was last active."""

    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    age_days: npt.NDArray[np.float64]
    users: IdIndex
    items: IdIndex

    @classmethod
    def of(
        cls,
        user_ids: npt.ArrayLike,
        item_ids: npt.ArrayLike,
        scores: npt.ArrayLike,
        age_days: npt.ArrayLike,
        *,
        users: IdIndex | None = None,
        items: IdIndex | None = None,
    ) -> "ScoreTable":
        """A table whose matrices use `users` x `items` (by default the ids it holds)."""
        user_ids, item_ids = np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64)
        return cls(
            user_ids,
            item_ids,
            np.asarray(scores, np.float64),
            np.asarray(age_days, np.float64),
            users or IdIndex.of(user_ids),
            items or IdIndex.of(item_ids),
        )

    def positive(self) -> "ScoreTable":
        """Only the pairs with a score above zero."""
        return self.subset(self.scores > 0)

    def subset(self, keep: npt.NDArray[np.bool_]) -> "ScoreTable":
        """Only the pairs in `keep`, over the same users x items."""
        return ScoreTable(
            self.user_ids[keep],
            self.item_ids[keep],
            self.scores[keep],
            self.age_days[keep],
            self.users,
            self.items,
        )

    @cached_property
    def rows(self) -> npt.NDArray[np.int64]:
        """Each pair's row in `users` (-1 if absent), computed once."""
        return self.users.index_of(self.user_ids)

    @cached_property
    def cols(self) -> npt.NDArray[np.int64]:
        """Each pair's column in `items` (-1 if absent), computed once."""
        return self.items.index_of(self.item_ids)

    @cached_property
    def _in_matrix_order(self) -> bool:
        """Whether the pairs are known ones, each once, sorted by row then column (as
        scores.ScoreRows keeps them): their matrix is then built without sorting."""
        if not len(self.rows) or self.rows.min() < 0 or self.cols.min() < 0:
            return False
        flat = self.rows * len(self.items) + self.cols
        return bool(np.all(flat[1:] > flat[:-1]))

    def _matrix(self, values: npt.NDArray, keep: npt.NDArray[np.bool_]) -> sp.csr_matrix:
        """The matrix of the pairs in `keep`, `values` one per such pair."""
        shape = (len(self.users), len(self.items))
        if self._in_matrix_order:
            counts = np.bincount(self.rows[keep], minlength=shape[0])
            indptr = np.concatenate([[0], np.cumsum(counts)])
            return sp.csr_matrix(
                (values.astype(np.float32), self.cols[keep], indptr), shape=shape, dtype=np.float32
            )
        known = (self.rows >= 0) & (self.cols >= 0)  # `values` has one per masked pair
        return _summed_csr(values[known[keep]], self.rows, self.cols, keep & known, shape)

    def matrix(
        self, *, half_life_days: float, mask: npt.NDArray[np.bool_] | None = None
    ) -> sp.csr_matrix:
        """The users x items confidence matrix of the (masked) pairs, full shape."""
        keep = np.ones(len(self.scores), bool) if mask is None else mask
        values = confidence(self.scores[keep], self.age_days[keep], half_life_days=half_life_days)
        return self._matrix(values, keep)

    def indicator(self, mask: npt.NDArray[np.bool_]) -> sp.csr_matrix:
        """users x items: 1 on the masked pairs (held-out truth)."""
        return self._matrix(np.ones(int(mask.sum())), mask)

    def holdout(
        self,
        *,
        test_fraction: float,
        seed: int,
        within: npt.NDArray[np.bool_] | None = None,
        stable: bool = False,
    ) -> npt.NDArray[np.bool_]:
        """A random per-user test mask over the pairs (only among `within`, if given); with
        `stable`, drawn from each pair's (user id, item id): the same pairs in every run."""
        within = np.ones(len(self.scores), bool) if within is None else within
        mask = np.zeros(len(self.scores), bool)
        rows = self.rows[within]
        draws = None
        if stable:
            draws = stable_uniform(self.user_ids[within], self.item_ids[within], seed=seed)
        mask[np.flatnonzero(within)] = holdout_mask(
            rows, test_fraction=test_fraction, seed=seed, draws=draws
        )
        return mask


def aggregate(
    user_ids: npt.ArrayLike,
    item_ids: npt.ArrayLike,
    weights: npt.ArrayLike,
    times: npt.ArrayLike,
    *,
    now: float,
    users: IdIndex | None = None,
    items: IdIndex | None = None,
) -> ScoreTable:
    """Events summed per (user, item), with the age in days of each pair's last event."""
    pairs = np.stack([np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64)], axis=1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    scores = np.bincount(inverse, weights=np.asarray(weights, np.float64), minlength=len(unique))
    last = np.full(len(unique), -np.inf)
    np.maximum.at(last, inverse, np.asarray(times, np.float64))
    return ScoreTable.of(
        unique[:, 0], unique[:, 1], scores, (now - last) / 86_400, users=users, items=items
    )
