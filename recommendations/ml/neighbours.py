"""Similar items: content similarity blended with collaborative similarity, exactly (every
pair, for catalogues up to some tens of thousands of items) or approximately (faiss inverted
lists gather candidates, the exact blend ranks them) where the catalogue is large."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recommendations.ml.data import top_k_of_products


@dataclass(frozen=True)
class ItemSpace:
    """What the blend needs per item: unit content rows, unit collaborative vectors (zeros
    where none), which items have one, and the content weight."""

    content: sp.csr_matrix
    factors: npt.NDArray[np.float32]
    has: npt.NDArray[np.bool_]
    content_weight: float

    def __len__(self) -> int:
        return self.content.shape[0]

    def blend(self, rows: npt.NDArray[np.int64], content_sims: npt.NDArray) -> npt.NDArray:
        """rows x items: content similarity, blended with the collaborative one where both
        items have it; an item is never its own neighbour."""
        both = self.has[rows][:, None] & self.has[None, :]
        cf = self.factors[rows] @ self.factors.T
        w = self.content_weight
        sims = np.where(both, w * content_sims + (1 - w) * cf, content_sims)
        sims[np.arange(len(rows)), rows] = -np.inf
        return sims

    def pair_blend(self, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]) -> npt.NDArray:
        """The same blend for given pairs (rows x k candidate columns), -inf for -1 and self.
        Compiled: each pair's sparse content rows are merged, nothing is gathered first."""
        content = self._sorted_content
        return _pair_blend(
            np.ascontiguousarray(rows, dtype=np.int64),
            np.ascontiguousarray(cols, dtype=np.int64),
            content.indptr.astype(np.int64),
            content.indices.astype(np.int64),
            content.data.astype(np.float32),
            np.ascontiguousarray(self.factors, dtype=np.float32),
            self.has,
            np.float32(self.content_weight),
        )

    @cached_property
    def _sorted_content(self) -> sp.csr_matrix:
        content = self.content.tocsr()
        return content if content.has_sorted_indices else content.sorted_indices()


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _pair_blend(
    rows, cols, indptr, indices, data, factors, has, weight
):  # pragma: no cover - compiled
    count, width = cols.shape
    sims = np.full((count, width), -np.inf, dtype=np.float32)
    for r in numba.prange(count):
        row = rows[r]
        for j in range(width):
            col = cols[r, j]
            if col < 0 or col == row:
                continue
            a, a_end = indptr[row], indptr[row + 1]
            b, b_end = indptr[col], indptr[col + 1]
            content = np.float32(0.0)
            while a < a_end and b < b_end:  # both rows' columns are sorted
                if indices[a] == indices[b]:
                    content += data[a] * data[b]
                    a += 1
                    b += 1
                elif indices[a] < indices[b]:
                    a += 1
                else:
                    b += 1
            if has[row] and has[col]:
                cf = np.float32(0.0)
                for f in range(factors.shape[1]):
                    cf += factors[row, f] * factors[col, f]
                sims[r, j] = weight * content + (1 - weight) * cf
            else:
                sims[r, j] = content
    return sims


def exact(
    space: ItemSpace, *, n: int, rows: npt.NDArray[np.int64] | None = None, batch: int = 1000
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
    """Batch by batch of `rows` (all items by default): those rows, their `n` most similar
    items (every pair compared), and the similarities."""
    for part, best, sims in top_k_of_products(
        space.content, space.content, k=n, rows=rows, batch=batch, adjust=space.blend
    ):
        yield part, best, np.take_along_axis(sims, best, axis=1).astype(np.float32)


def _dense_content(content: sp.csr_matrix, dims: int, seed: int) -> npt.NDArray[np.float32]:
    """Content rows reduced to `dims` dense dimensions (truncated SVD), unit length."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    dims = min(dims, content.shape[1] - 1, content.shape[0] - 1)
    reduced = TruncatedSVD(dims, random_state=seed).fit_transform(content)
    return normalize(reduced).astype(np.float32)


def _search(
    vectors: npt.NDArray[np.float32], queries: npt.NDArray[np.float32], *, k: int, probes: int
) -> npt.NDArray[np.int64]:
    """Each query's `k` nearest `vectors` by inner product from faiss inverted lists (about
    4 sqrt(N) lists, `probes` of them searched); -1 pads."""
    index = _inverted_lists(vectors, probes=probes, inner_product=True)
    _, found = index.search(queries, k)
    return found.astype(np.int64)


def _inverted_lists(
    vectors: npt.NDArray[np.float32], *, probes: int, inner_product: bool
) -> object:
    """A faiss IVF-Flat index of `vectors` (about 4 sqrt(N) lists, at least 39 vectors per
    list), trained and filled, searching `probes` lists; by inner product or L2 distance."""
    import faiss

    count, dims = vectors.shape
    lists = max(1, min(int(4 * np.sqrt(count)), count // 39))
    if inner_product:
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dims), dims, lists, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dims), dims, lists, faiss.METRIC_L2)
    if count:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index.train(vectors)
        index.add(vectors)
    index.nprobe = min(probes, lists)
    return index


def approximate(
    space: ItemSpace,
    *,
    n: int,
    candidates: int = 400,
    dims: int = 64,
    probes: int = 256,
    batch: int = 5000,
    seed: int = 0,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Every item's `n` most similar items and the similarities (-1 and 0 pad), without
    comparing every pair: each item's `candidates` nearest by content (SVD-reduced) and, where
    it has one, by collaborative vector, found in faiss inverted lists; the exact blend ranks
    the candidates."""
    content = _dense_content(space.content, dims, seed)
    by_content = _search(content, content, k=min(candidates, len(space)), probes=probes)
    with_cf = np.flatnonzero(space.has)
    by_cf = np.full((len(space), 0), -1, dtype=np.int64)
    if len(with_cf) > 1:
        vectors = np.ascontiguousarray(space.factors[with_cf])
        found = _search(vectors, vectors, k=min(candidates, len(with_cf)), probes=probes)
        by_cf = np.full((len(space), found.shape[1]), -1, dtype=np.int64)
        by_cf[with_cf] = np.where(found >= 0, with_cf[np.maximum(found, 0)], -1)
    pool = np.concatenate([by_content, by_cf], axis=1)
    pool = np.sort(pool, axis=1)
    pool[:, 1:][pool[:, 1:] == pool[:, :-1]] = -1  # each candidate once
    k = min(n, len(space) - 1, pool.shape[1])
    ids = np.full((len(space), k), -1, dtype=np.int64)
    values = np.zeros((len(space), k), dtype=np.float32)
    for start in range(0, len(space), batch):
        rows = np.arange(start, min(start + batch, len(space)))
        cols = pool[rows]
        sims = space.pair_blend(rows, cols)
        best = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        got = np.take_along_axis(sims, best, axis=1)
        ids[rows] = np.where(np.isfinite(got), np.take_along_axis(cols, best, axis=1), -1)
        values[rows] = np.where(np.isfinite(got), got, 0)
    return ids, values


def recall(found: npt.NDArray[np.int64], truth: npt.NDArray[np.int64]) -> float:
    """Share of the true neighbours (rows x n, -1 pads) that `found` (same rows) has."""
    hits = total = 0
    for got, want in zip(found, truth, strict=True):
        want = want[want >= 0]
        hits += np.isin(want, got[got >= 0]).sum()
        total += len(want)
    return hits / total if total else 1.0


class ApproximateColumns:
    """`data.best_unseen` without scoring every column: faiss inverted lists over the rows of
    `right` (about 4 sqrt(N) lists, the `blocked` rows left out), built once. faiss's coarse
    quantizer picks the `probes` lists each query row searches; a compiled scan scores every
    row of those lists exactly, skips the row's excluded columns and keeps the best `k`
    (faiss's own search keeps a k-heap per query, slow for the hundreds asked here, and cannot
    skip a different set of columns per query)."""

    def __init__(
        self,
        right: npt.NDArray[np.float32],
        *,
        blocked: npt.NDArray[np.int64] | None = None,
        probes: int = 256,
    ) -> None:
        import faiss

        allowed = np.ones(right.shape[0], bool)
        if blocked is not None:
            allowed[blocked] = False
        self.width = right.shape[0]
        self.columns = np.flatnonzero(allowed)
        vectors = np.ascontiguousarray(right[self.columns], dtype=np.float32)
        # Largest inner product -> nearest neighbour: every row gets one more coordinate that
        # lifts its length to the longest row's, so that the L2 clustering of the inverted
        # lists suits the search (ALS factors' lengths vary with popularity).
        lengths = np.einsum("ij,ij->i", vectors, vectors)
        self.longest = float(lengths.max(initial=0.0))
        lifted = np.hstack([vectors, np.sqrt(np.maximum(self.longest - lengths, 0))[:, None]])
        self.index = _inverted_lists(lifted, probes=probes, inner_product=False)
        # The lists as one CSR-like layout: list l holds members[starts[l]:starts[l + 1]]
        # (columns of `right`), their vectors contiguous in `ordered`.
        inverted = self.index.invlists
        sizes = np.array([inverted.list_size(at) for at in range(self.lists)], dtype=np.int64)
        positions = [
            faiss.rev_swig_ptr(inverted.get_ids(at), int(size)).copy()
            for at, size in enumerate(sizes)
            if size
        ]
        positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.members = self.columns[positions].astype(np.int64)
        self.ordered = np.ascontiguousarray(vectors[positions])

    @property
    def lists(self) -> int:
        return int(self.index.nlist)

    @property
    def probes(self) -> int:
        return int(self.index.nprobe)

    @probes.setter
    def probes(self, probes: int) -> None:
        self.index.nprobe = max(1, min(probes, self.lists))

    def best_unseen(
        self,
        left: npt.NDArray[np.float32],
        *,
        k: int,
        exclude: sp.csr_matrix | None = None,
        batch: int = 5000,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Like `data.best_unseen(left, right, k=k, exclude=exclude, blocked=blocked)`, among
        the columns in each row's probed lists."""
        rows = len(left)
        k = min(k, len(self.columns))
        ids = np.full((rows, k), -1, dtype=np.int64)
        values = np.zeros((rows, k), dtype=np.float32)
        if not rows or not k:
            return ids, values
        exclude = sp.csr_matrix((rows, self.width)) if exclude is None else exclude.tocsr()
        if not exclude.has_sorted_indices:
            exclude = exclude.sorted_indices()
        for start in range(0, rows, batch):
            stop = min(start + batch, rows)
            # Each query scaled to the rows' length (its ranking stays; the lists it probes
            # then follow its direction), one 0 appended: |s q - v'|^2 = 2 L - 2 s q.v
            query = np.ascontiguousarray(left[start:stop], dtype=np.float32)
            scale = np.sqrt(self.longest) / np.maximum(np.linalg.norm(query, axis=1), 1e-12)
            lifted = np.hstack([query * scale[:, None], np.zeros((len(query), 1), np.float32)])
            _, probed = self.index.quantizer.search(
                np.ascontiguousarray(lifted, np.float32), self.probes
            )
            hidden = exclude[start:stop]
            ids[start:stop], values[start:stop] = _scan_lists(
                query, probed.astype(np.int64), self.starts, self.members, self.ordered,
                hidden.indptr.astype(np.int64), hidden.indices.astype(np.int64), k,
            )  # fmt: skip
        return ids, values


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=True)
def _scan_lists(
    queries, probed, starts, members, ordered, hidden_ptr, hidden, k
):  # pragma: no cover - compiled
    rows, dims = queries.shape
    ids = np.full((rows, k), -1, dtype=np.int64)
    values = np.zeros((rows, k), dtype=np.float32)
    for row in numba.prange(rows):
        size = 0
        for probe in probed[row]:
            if probe >= 0:
                size += starts[probe + 1] - starts[probe]
        found = np.empty(size, dtype=np.int64)  # positions in `ordered`
        scores = np.empty(size, dtype=np.float32)
        query = queries[row]
        count = 0
        for probe in probed[row]:
            if probe < 0:
                continue
            for at in range(starts[probe], starts[probe + 1]):
                vector = ordered[at]
                total = np.float32(0.0)
                for f in range(dims):
                    total += query[f] * vector[f]
                found[count] = at
                scores[count] = -total  # ascending sorts put the best first
                count += 1
        if count == 0:
            continue
        # Only the best k + (the row's excluded count) can matter: sort those, skip the
        # excluded ones while taking k.
        skip = hidden[hidden_ptr[row] : hidden_ptr[row + 1]]
        wanted = min(k + len(skip), count)
        if wanted < count:
            bound = np.partition(scores, wanted - 1)[wanted - 1]
            near = scores <= bound
            scores = scores[near]
            found = found[near]
        order = np.argsort(scores)
        taken = 0
        for o in order:
            if taken == k:
                break
            column = members[found[o]]
            if len(skip):
                where = np.searchsorted(skip, column)
                if where < len(skip) and skip[where] == column:
                    continue
            ids[row, taken] = column
            values[row, taken] = -scores[o]
            taken += 1
    return ids, values


def probes_for_recall(
    index: ApproximateColumns,
    approximate: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]],
    exact: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]],
    rows: int,
    *,
    target: float,
    fewest: int = 16,
    sample: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Set `index` to the fewest probes (`fewest`, doubled each time, up to every list) whose
    lists reach `target` recall against the exact ones on a random sample of rows (as in
    `sampled_recall`); that recall and the probes come back. Vectors that cluster well are
    then searched with few lists; the others with as many as the target needs."""
    picked = np.sort(np.random.default_rng(seed).choice(rows, min(sample, rows), replace=False))
    truth = exact(picked)
    index.probes = fewest
    while True:
        got = float(recall(approximate(picked), truth))
        if got >= target or index.probes >= index.lists:
            break
        index.probes = index.probes * 2
    return {"recall_sample": len(picked), "recall": round(got, 4), "probes": index.probes}


def sampled_recall(
    approximate: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]],
    exact: Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int64]],
    rows: int,
    *,
    sample: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Recall of the approximate lists against the exact ones on a random sample of rows
    (each function maps row indices to their lists, -1 padded)."""
    picked = np.sort(np.random.default_rng(seed).choice(rows, min(sample, rows), replace=False))
    return {
        "recall_sample": len(picked),
        "recall": round(float(recall(approximate(picked), exact(picked))), 4),
    }
