"""Every weighted event (order lines and logged events) as arrays with their times: what
`evaluate` and ALS tuning cut temporal windows from (the aggregated scores keep only each
pair's last time)."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.conf import settings

from recommendations.services import tables
from recommendations.services.sql import FLOAT, INT, TIME, fetch_array
from recommendations.services.training.model_runs import NoTrainingData


@dataclass(frozen=True)
class Events:
    """Every weighted event as parallel arrays (database ids, seconds since the epoch)."""

    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float32]
    times: npt.NDArray[np.float64]


def event_weight_sql() -> tuple[str, list]:
    """SQL for a logged event's weight by its `kind` (PICKS_EVENT_WEIGHTS, 0 for a kind it
    does not name), and the SQL's parameters."""
    weights = settings.PICKS_EVENT_WEIGHTS
    cases = " ".join("WHEN %s THEN %s" for _ in weights)
    params = [value for kind, weight in weights.items() for value in (kind, float(weight))]
    return f"CASE kind {cases} ELSE 0.0 END", params


def load_events() -> Events:
    """Order lines of customers (cancellations negative) and logged events, with weights:
    read as arrays (services/sql.fetch_array), never a Python tuple per row."""
    purchase = float(settings.PICKS_EVENT_WEIGHTS["purchase"])
    lines = fetch_array(
        f"SELECT o.customer_id, l.item_id, "
        f"CASE WHEN o.is_cancelled OR l.quantity < 0 THEN %s ELSE %s END, o.ordered_at "
        f"FROM {tables.LINES} l JOIN {tables.ORDERS} o ON o.id = l.order_id "
        f"WHERE o.customer_id IS NOT NULL",
        [-purchase, purchase],
        types=(INT, INT, FLOAT, TIME),
    )
    weight, weight_params = event_weight_sql()
    events = fetch_array(
        f"SELECT user_id, item_id, {weight}, occurred_at FROM {tables.EVENTS}",
        weight_params,
        types=(INT, INT, FLOAT, TIME),
    )
    rows = np.concatenate([lines.reshape(-1, 4), events.reshape(-1, 4)])
    if not len(rows):
        raise NoTrainingData("no events or orders to evaluate on")
    return Events(
        rows[:, 0].astype(np.int64),
        rows[:, 1].astype(np.int64),
        rows[:, 2].astype(np.float32),
        rows[:, 3],
    )
