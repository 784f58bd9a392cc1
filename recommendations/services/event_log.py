"""Every weighted event (order lines and logged events) as arrays with their times: what
`evaluate` and ALS tuning cut temporal windows from (the aggregated scores keep only each
pair's last time)."""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.conf import settings

from recommendations.models import Interaction, OrderLine
from recommendations.services.training.model_runs import NoTrainingData


@dataclass(frozen=True)
class Events:
    """Every weighted event as parallel arrays (database ids, seconds since the epoch)."""

    user_ids: npt.NDArray[np.int64]
    item_ids: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float32]
    times: npt.NDArray[np.float64]


def load_events() -> Events:
    """Order lines of customers (cancellations negative) and logged events, with weights."""
    weights = settings.PICKS_EVENT_WEIGHTS
    lines = OrderLine.objects.filter(order__customer__isnull=False).values_list(
        "order__customer_id", "item_id", "order__ordered_at", "order__is_cancelled", "quantity"
    )
    rows = [
        (u, i, -weights["purchase"] if cancelled or q < 0 else weights["purchase"], t.timestamp())
        for u, i, t, cancelled, q in lines.iterator(chunk_size=20_000)
    ]
    events = Interaction.objects.values_list("user_id", "item_id", "kind", "occurred_at")
    rows += [(u, i, weights[k], t.timestamp()) for u, i, k, t in events.iterator(chunk_size=20_000)]
    if not rows:
        raise NoTrainingData("no events or orders to evaluate on")
    array = np.array(rows, dtype=np.float64)
    return Events(
        array[:, 0].astype(np.int64),
        array[:, 1].astype(np.int64),
        array[:, 2].astype(np.float32),
        array[:, 3],
    )
