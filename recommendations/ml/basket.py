"""Market-basket rules: mlxtend's FP-Growth and association_rules, on frequent items only."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from mlxtend.frequent_patterns import association_rules, fpgrowth
from mlxtend.preprocessing import TransactionEncoder


@dataclass(frozen=True)
class BasketParams:
    min_support: float = 0.01
    min_confidence: float = 0.2
    min_lift: float = 1.0
    max_len: int | None = None

    def check(self) -> None:
        """Raise ValueError naming the first option out of range."""
        if not 0 < self.min_support <= 1:
            raise ValueError(f"min_support must be in (0, 1], got {self.min_support}")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        if self.min_lift < 0:
            raise ValueError(f"min_lift must be at least 0, got {self.min_lift}")
        if self.max_len is not None and self.max_len < 2:
            raise ValueError(f"max_len must be at least 2, got {self.max_len}")


@dataclass(frozen=True)
class Rules:
    itemsets: pd.DataFrame  # support, itemsets (frozensets of item labels)
    rules: pd.DataFrame  # antecedents, consequents, support, confidence, lift, ...
    baskets: int


def frequent_items(baskets: Sequence[Sequence[object]], *, min_support: float) -> set[object]:
    """Items in at least `min_support` of the baskets."""
    counts = Counter(item for basket in baskets for item in set(basket))
    min_count = min_support * len(baskets)
    return {item for item, c in counts.items() if c >= min_count}


def one_hot(baskets: Sequence[Sequence[object]], *, frequent: set[object]) -> pd.DataFrame:
    """Sparse one-hot frame of the baskets over the `frequent` items only.

    An item below min_support cannot be part of a frequent itemset, so dropping it first
    changes no answer and keeps the matrix small.
    """
    kept = [[item for item in basket if item in frequent] for basket in baskets]
    encoder = TransactionEncoder().fit(kept)
    matrix = encoder.transform(kept, sparse=True)
    # mlxtend's sparse path wants string column names; labels map back in `mine`.
    return pd.DataFrame.sparse.from_spmatrix(matrix, columns=[str(c) for c in encoder.columns_])


def mine(baskets: Sequence[Sequence[object]], params: BasketParams) -> Rules:
    """Frequent itemsets and rules with one item on the right, filtered by confidence and lift."""
    params.check()
    frequent = frequent_items(baskets, min_support=params.min_support)
    labels = {str(item): item for item in frequent}
    frame = one_hot(baskets, frequent=frequent)
    itemsets = fpgrowth(
        frame, min_support=params.min_support, use_colnames=True, max_len=params.max_len
    )
    if itemsets.empty or itemsets["itemsets"].map(len).max() < 2:
        return Rules(itemsets, _empty_rules(), len(baskets))
    rules = association_rules(
        itemsets,
        num_itemsets=len(baskets),
        metric="confidence",
        min_threshold=params.min_confidence,
    )
    rules = rules[(rules["consequents"].map(len) == 1) & (rules["lift"] >= params.min_lift)]
    rules = rules.reset_index(drop=True)
    for column in ("antecedents", "consequents"):
        rules[column] = rules[column].map(lambda s: frozenset(labels[x] for x in s))
    itemsets["itemsets"] = itemsets["itemsets"].map(lambda s: frozenset(labels[x] for x in s))
    return Rules(itemsets, rules, len(baskets))


def _empty_rules() -> pd.DataFrame:
    return pd.DataFrame(columns=["antecedents", "consequents", "support", "confidence", "lift"])


def rule_counts_by_length(rules: pd.DataFrame) -> dict[int, int]:
    """How many rules have 2, 3, ... items in all (antecedent plus consequent)."""
    lengths = rules["antecedents"].map(len) + rules["consequents"].map(len)
    return {int(n): int(c) for n, c in sorted(lengths.value_counts().items())}


def itemset_counts_by_length(itemsets: pd.DataFrame) -> dict[int, int]:
    """How many frequent itemsets have 1, 2, ... items."""
    lengths = itemsets["itemsets"].map(len)
    return {int(n): int(c) for n, c in sorted(lengths.value_counts().items())}
