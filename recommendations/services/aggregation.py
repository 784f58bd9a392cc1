"""`update_interactions`: events and order lines folded into user_product_interactions, in SQL."""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recommendations.models import BatchMetadata, UserProductInteraction
from recommendations.services.progress import log_step

JOB = "update_interactions"

# Rows are picked by a mark, not by time: each run first marks every committed event and order
# line that no run has taken yet with its batch number, then folds exactly the rows it marked.
# A transaction that commits after the marking (however long after its rows' timestamps) is
# left unmarked and taken by the next run; the run's lock on its BatchMetadata row keeps two
# runs from marking at once. The partial scans use the index on aggregated_batch.
_CLAIM = (
    "UPDATE recommendations_interaction SET aggregated_batch = %(batch)s "
    "WHERE aggregated_batch IS NULL",
    "UPDATE recommendations_orderline SET aggregated_batch = %(batch)s "
    "WHERE aggregated_batch IS NULL",
)

# One statement for both sources. `%(...)s` placeholders keep the weights; ON CONFLICT adds to
# an existing score (PostgreSQL and SQLite alike). Every row written is stamped with the run's
# batch number. `bought` marks a purchase event or a line of an order that was not cancelled
# (a later return does not unmark it). {rows} picks this run's marked rows, or all of them.
_UPSERT = """
INSERT INTO user_product_interactions
    (user_id, product_id, score, last_updated_at, batch, bought)
SELECT user_id, item_id, SUM(weight), MAX(happened_at), %(batch)s, MAX(purchased) = 1
FROM (
    SELECT user_id, item_id, occurred_at AS happened_at,
        CASE kind
            WHEN 'purchase' THEN %(purchase)s WHEN 'cart' THEN %(cart)s
            WHEN 'like' THEN %(like)s WHEN 'view' THEN %(view)s
            WHEN 'dislike' THEN %(dislike)s ELSE 0 END AS weight,
        CASE kind WHEN 'purchase' THEN 1 ELSE 0 END AS purchased
    FROM recommendations_interaction
    WHERE {rows}
    UNION ALL
    SELECT o.customer_id, l.item_id, o.ordered_at,
        CASE WHEN o.is_cancelled OR l.quantity < 0 THEN -%(purchase)s ELSE %(purchase)s END,
        CASE WHEN NOT o.is_cancelled AND l.quantity > 0 THEN 1 ELSE 0 END
    FROM recommendations_orderline l
    JOIN recommendations_order o ON o.id = l.order_id
    WHERE o.customer_id IS NOT NULL AND l.{rows}
) AS events
WHERE TRUE
GROUP BY user_id, item_id
ON CONFLICT (user_id, product_id) DO UPDATE SET
    score = user_product_interactions.score + excluded.score,
    last_updated_at = CASE
        WHEN excluded.last_updated_at > user_product_interactions.last_updated_at
        THEN excluded.last_updated_at ELSE user_product_interactions.last_updated_at END,
    batch = excluded.batch,
    bought = user_product_interactions.bought OR excluded.bought
"""
_THIS_RUN = "aggregated_batch = %(batch)s"
_EVERY_RUN = "aggregated_batch IS NOT NULL"


@dataclass(frozen=True)
class AggregationResult:
    rows_touched: int
    events: int  # events and order lines folded in by this run
    batch: int


def update_interactions(*, full: bool = False) -> AggregationResult:
    """Fold every committed event and order line no run has folded yet into the scores.

    `full` rebuilds every score from all events and orders. With nothing new the run writes
    nothing and keeps its batch number.
    """
    with transaction.atomic():
        meta, _ = BatchMetadata.objects.select_for_update().get_or_create(job_name=JOB)
        batch = meta.batch + 1
        params = {**settings.PICKS_EVENT_WEIGHTS, "batch": batch}
        with connection.cursor() as cursor:
            claimed = 0
            for statement in _CLAIM:
                cursor.execute(statement, params)
                claimed += cursor.rowcount
            if not claimed and not full:
                return AggregationResult(0, 0, meta.batch)
            if full:
                UserProductInteraction.objects.all().delete()
            cursor.execute(_UPSERT.format(rows=_EVERY_RUN if full else _THIS_RUN), params)
            touched = cursor.rowcount
        meta.batch, meta.watermark = batch, timezone.now()
        meta.save(update_fields=["watermark", "batch", "updated_at"])
    log_step(JOB, "done", full=full, rows=touched, events=claimed, batch=batch)
    return AggregationResult(touched, claimed, batch)
