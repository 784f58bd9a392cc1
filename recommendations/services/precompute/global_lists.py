"""`generate_global_top_buys`: the guest lists, most bought and trending."""

from datetime import timedelta

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import connection
from django.utils import timezone

from recommendations import store
from recommendations.ml import popularity
from recommendations.ml.data import IdIndex
from recommendations.models import Interaction
from recommendations.services import tables
from recommendations.services.clock import run_time
from recommendations.services.event_log import event_weight_sql
from recommendations.services.precompute import PublishResult
from recommendations.services.progress import log_step
from recommendations.services.publish import active_item_ids
from recommendations.services.sql import FLOAT, INT, TIME, fetch_array


def _positive_events(
    since: timezone.datetime, until: timezone.datetime
) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray]:
    """(item id, time as epoch seconds, weight) of purchases, carts, likes and views between,
    read as arrays (no Python tuple per row)."""
    since, until = (connection.ops.adapt_datetimefield_value(t) for t in (since, until))
    lines = fetch_array(
        f"SELECT l.item_id, o.ordered_at, %s FROM {tables.LINES} l "
        f"JOIN {tables.ORDERS} o ON o.id = l.order_id "
        f"WHERE o.ordered_at >= %s AND o.ordered_at <= %s AND NOT o.is_cancelled "
        f"AND l.quantity > 0",
        [float(settings.PICKS_EVENT_WEIGHTS["purchase"]), since, until],
        types=(INT, TIME, FLOAT),
    )
    weight, weight_params = event_weight_sql()
    events = fetch_array(
        f"SELECT item_id, occurred_at, {weight} FROM {tables.EVENTS} "
        f"WHERE occurred_at >= %s AND occurred_at <= %s AND kind <> %s",
        [*weight_params, since, until, Interaction.Kind.DISLIKE],
        types=(INT, TIME, FLOAT),
    )
    array = np.concatenate([lines.reshape(-1, 3), events.reshape(-1, 3)])
    return array[:, 0].astype(np.int64), array[:, 1], array[:, 2]


def _orders_per_item(
    items: IdIndex, since: timezone.datetime | None, until: timezone.datetime
) -> npt.NDArray[np.float64]:
    """How many orders (not cancelled, placed between) bought each of `items`, counted by
    PostgreSQL and read as an array."""
    bounds = [connection.ops.adapt_datetimefield_value(t) for t in (until, since) if t]
    counted = fetch_array(
        f"SELECT l.item_id, COUNT(DISTINCT l.order_id) FROM {tables.LINES} l "
        f"JOIN {tables.ORDERS} o ON o.id = l.order_id WHERE o.ordered_at <= %s "
        f"{'AND o.ordered_at >= %s' if since else ''} "
        "AND NOT o.is_cancelled AND l.quantity > 0 GROUP BY l.item_id",
        bounds,
        types=(INT, INT),
    ).reshape(-1, 2)
    index = items.index_of(counted[:, 0].astype(np.int64))
    known = index >= 0  # inactive items count for nothing
    return np.bincount(index[known], weights=counted[known, 1], minlength=len(items))


def generate_global_top_buys(
    *, n: int | None = None, window_days: int = 30, half_life_days: float = 7.0
) -> PublishResult:
    """`global:top_buys` (most ordered in the window before the run's time) and
    `global:trending` (decayed from the run's time)."""
    if window_days < 1 or half_life_days <= 0:
        raise ValueError("window_days must be at least 1 and half_life_days above 0")
    n = n or settings.PICKS_LIST_LENGTH
    now = run_time()
    active = active_item_ids()
    items = IdIndex.of(np.fromiter(active, dtype=np.int64))
    bought = _orders_per_item(items, now - timedelta(days=window_days), now)
    window = f"{window_days} days"
    if not bought.any():  # no order in the window (a quiet month, an imported history)
        bought, window = _orders_per_item(items, None, now), "all orders"
    item_ids, times, weights = _positive_events(now - timedelta(days=4 * half_life_days), now)
    index = items.index_of(item_ids)
    known = index >= 0
    age_days = (now.timestamp() - times[known]) / 86_400
    trend = popularity.trending(
        index[known], age_days, weights[known], n_items=len(items), half_life_days=half_life_days
    )
    with store.publishing(store.GLOBAL) as publication:
        for name, scores in ((store.GLOBAL_TOP_BUYS, bought), (store.GLOBAL_TRENDING, trend)):
            best, best_scores = popularity.rank_scores(scores, n=n)
            publication.put(name, items.ids[best], best_scores)
        publication.commit(built_at=timezone.now().isoformat(), source="popular", window=window)
    log_step("generate_global_top_buys", "published", version=publication.version)
    return PublishResult(publication.version, publication.lists)
