"""`train_market_basket`: FP-Growth rules over the orders (or a basket file)."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recommendations import artifacts
from recommendations.ml import basket
from recommendations.models import ModelRun
from recommendations.services import engines, tables
from recommendations.services.sql import INT, fetch_array
from recommendations.services.training.model_runs import NoTrainingData, recorded_run


@dataclass(frozen=True)
class BasketArtifact:
    rules: object  # pandas DataFrame of association rules over item ids
    params: basket.BasketParams


def order_baskets() -> list[list[int]]:
    """Item ids per non-cancelled invoice (guest orders too), lines with a positive quantity."""
    pairs = fetch_array(
        f"SELECT l.order_id, l.item_id FROM {tables.LINES} l "
        f"JOIN {tables.ORDERS} o ON o.id = l.order_id "
        f"WHERE NOT o.is_cancelled AND l.quantity > 0",
        types=(INT, INT),
    ).astype(np.int64)
    if not len(pairs):
        return []
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]  # by order (the reads come unsorted)
    splits = np.flatnonzero(np.diff(pairs[:, 0])) + 1
    return [part.tolist() for part in np.split(pairs[:, 1], splits)]


def file_baskets(path: Path) -> list[list[str]]:
    """One basket per non-empty line, items separated by commas."""
    with path.open(encoding="utf-8") as f:
        return [
            [item.strip() for item in line.split(",") if item.strip()] for line in f if line.strip()
        ]


def train_market_basket(
    *, params: basket.BasketParams, baskets_file: Path | None = None, engine: str | None = None
) -> ModelRun:
    """Mine FP-Growth rules from the orders (or a basket file) and record their counts, with
    mlxtend here or Spark's FPGrowth (`engine`, default the PICKS_ENGINE setting)."""
    params.check()
    engine = engines.chosen(engine)
    baskets = file_baskets(baskets_file) if baskets_file else order_baskets()
    if not baskets:
        raise NoTrainingData("no baskets: import or push orders first")
    source = str(baskets_file.name) if baskets_file else "orders"
    with recorded_run(
        kind=ModelRun.Kind.BASKET, params={**params.__dict__, "source": source}
    ) as run:
        mined = basket.mine(baskets, params) if engine == "local" else _spark_mine(baskets, params)
        run.data_size = {
            "baskets": len(baskets),
            "items": len({item for b in baskets for item in b}),
            "engine": engine,
        }
        run.metrics = {
            "itemsets": len(mined.itemsets),
            "itemsets_by_length": basket.itemset_counts_by_length(mined.itemsets),
            "rules": len(mined.rules),
            "rules_by_length": basket.rule_counts_by_length(mined.rules),
        }
        if baskets_file is None:
            run.artifact_name = artifacts.save(
                kind="basket", obj=BasketArtifact(mined.rules, params)
            )
            run.published, run.decision = True, "published: rules from the orders"
        else:
            run.decision = "not served: mined from a file"

    return run


def _spark_mine(baskets: list[list], params: basket.BasketParams) -> basket.Rules:
    """basket.mine on Spark: the baskets go out once as Parquet through the storage."""
    from recommendations.ml import spark

    labels = {str(item): item for b in baskets for item in b}
    with engines.staged("baskets", spark.baskets_parquet(baskets)) as path:
        return spark.mine(engines.spark(), path, params, n_baskets=len(baskets), labels=labels)
