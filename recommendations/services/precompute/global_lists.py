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
from recommendations.models import Interaction, OrderLine
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
    orders = OrderLine.objects.filter(
        order__ordered_at__lte=now, order__is_cancelled=False, quantity__gt=0, item_id__in=active
    )
    recent = orders.filter(order__ordered_at__gte=now - timedelta(days=window_days))
    # A shop with no order in the window (a quiet month, an imported history) ranks them all.
    window = f"{window_days} days" if recent.exists() else "all orders"
    orders = recent if recent.exists() else orders
    pairs = np.array(
        list(orders.values_list("item_id", "order_id").distinct()), dtype=np.int64
    ).reshape(-1, 2)
    items = IdIndex.of(np.fromiter(active, dtype=np.int64))
    bought = np.bincount(items.index_of(pairs[:, 0]), minlength=len(items)).astype(np.float64)
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
