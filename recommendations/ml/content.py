"""Item content vectors: category, brand, colour, price band and text, so that an item with
no events still has neighbours."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import OneHotEncoder, normalize

from recommendations.ml.data import top_k_of_products


@dataclass(frozen=True)
class ContentWeights:
    category: float = 1.0
    brand: float = 0.7
    colour: float = 0.5
    price_band: float = 0.5
    text: float = 0.7
    price_bands: int = 5


def price_bands(prices: npt.ArrayLike, *, bands: int) -> npt.NDArray[np.int64]:
    """Quantile band of each price (0 = cheapest)."""
    prices = np.asarray(prices, dtype=np.float64)
    if not len(prices):
        return np.zeros(0, dtype=np.int64)
    edges = np.quantile(prices, np.linspace(0, 1, bands + 1)[1:-1])
    return np.searchsorted(edges, prices, side="right")


def item_vectors(
    *,
    categories: list[str],
    brands: list[str],
    colours: list[str],
    prices: npt.ArrayLike,
    texts: list[str],
    weights: ContentWeights = ContentWeights(),
) -> sp.csr_matrix:
    """One L2-normalised sparse row per item; a dot product of two rows is their similarity."""
    columns = np.array(
        [categories, brands, colours, price_bands(prices, bands=weights.price_bands).astype(str)],
        dtype=object,
    ).T
    blocks = []
    for j, weight in enumerate(
        (weights.category, weights.brand, weights.colour, weights.price_band)
    ):
        onehot = OneHotEncoder(handle_unknown="ignore").fit_transform(columns[:, [j]])
        blocks.append(onehot * weight)
    if any(t.strip() for t in texts):
        tfidf = TfidfVectorizer(min_df=1, max_features=20_000, sublinear_tf=True)
        blocks.append(tfidf.fit_transform(texts) * weights.text)
    return normalize(sp.hstack(blocks).tocsr())


def top_similar(
    vectors: sp.csr_matrix | npt.NDArray[np.float32],
    *,
    n: int,
    rows: npt.NDArray[np.int64] | None = None,
    batch: int = 1000,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """For each row (all, or `rows`), the `n` most similar other rows by dot product."""
    rows = np.arange(vectors.shape[0]) if rows is None else np.asarray(rows)
    n = min(n, vectors.shape[0] - 1)
    ids = np.full((len(rows), n), -1, dtype=np.int64)
    scores = np.zeros((len(rows), n), dtype=np.float32)

    def not_itself(part: npt.NDArray[np.int64], sims: npt.NDArray[np.float32]) -> npt.NDArray:
        sims[np.arange(len(part)), part] = -np.inf
        return sims

    done = 0
    for part, best, sims in top_k_of_products(
        vectors, vectors, k=n, rows=rows, batch=batch, adjust=not_itself
    ):
        ids[done : done + len(part)] = best
        scores[done : done + len(part)] = np.take_along_axis(sims, best, axis=1)
        done += len(part)
    return ids, scores
