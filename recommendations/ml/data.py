"""Id <-> index maps, the sparse users x items matrix, and train/test splits."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp


@dataclass(frozen=True)
class IdIndex:
    """Sorted database ids; the position of an id is its row or column index."""

    ids: npt.NDArray[np.int64]

    @classmethod
    def of(cls, ids: npt.ArrayLike) -> "IdIndex":
        return cls(np.unique(np.asarray(ids, dtype=np.int64)))

    def __len__(self) -> int:
        return len(self.ids)

    def index_of(self, ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Indices of `ids`; -1 where an id is unknown."""
        ids = np.asarray(ids, dtype=np.int64)
        if not len(self.ids):
            return np.full(len(ids), -1, dtype=np.int64)
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
    matrix = sp.csr_matrix(
        (np.asarray(values, dtype=np.float32)[keep], (rows[keep], cols[keep])),
        shape=(len(users), len(items)),
        dtype=np.float32,
    )
    matrix.sum_duplicates()
    return Interactions(matrix, users, items)


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
    rng = np.random.default_rng(seed)
    coo = user_items.tocoo()
    counts = np.diff(user_items.indptr)
    order = np.lexsort((rng.random(coo.nnz), coo.row))
    rank_in_row = np.arange(coo.nnz) - user_items.indptr[coo.row[order]]
    n_test = np.where(counts >= min_items, np.maximum(1, np.floor(counts * test_fraction)), 0)
    is_test = np.zeros(coo.nnz, dtype=bool)
    is_test[order] = rank_in_row < n_test[coo.row[order]]
    shape = user_items.shape

    def part(mask: npt.NDArray[np.bool_]) -> sp.csr_matrix:
        return sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=shape)

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
