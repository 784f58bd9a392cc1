"""`update_interactions`: events and order lines folded into user_product_interactions, in SQL."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recommendations.models import BatchMetadata, UserProductInteraction
from recommendations.services.progress import log_step

JOB = "update_interactions"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# One statement for both sources. `%(...)s` placeholders keep the weights and the window
# parameters; ON CONFLICT adds to an existing score (PostgreSQL and SQLite alike). Every row
# written is stamped with the run's batch number. `bought` marks a purchase event or a line
# of an order that was not cancelled (a later return does not unmark it).
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
    WHERE received_at > %(since)s AND received_at <= %(until)s
    UNION ALL
    SELECT o.customer_id, l.item_id, o.ordered_at,
        CASE WHEN o.is_cancelled OR l.quantity < 0 THEN -%(purchase)s ELSE %(purchase)s END,
        CASE WHEN NOT o.is_cancelled AND l.quantity > 0 THEN 1 ELSE 0 END
    FROM recommendations_orderline l
    JOIN recommendations_order o ON o.id = l.order_id
    WHERE o.customer_id IS NOT NULL AND o.received_at > %(since)s AND o.received_at <= %(until)s
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


@dataclass(frozen=True)
class AggregationResult:
    rows_touched: int
    since: datetime | None
    until: datetime


def update_interactions(*, full: bool = False) -> AggregationResult:
    """Fold what arrived since the watermark into the scores and move the watermark, atomically.

    `full` rebuilds every score from all events and orders.
    """
    until = timezone.now() - timedelta(seconds=settings.PICKS_WATERMARK_LAG_SECONDS)
    with transaction.atomic():
        meta, _ = BatchMetadata.objects.select_for_update().get_or_create(job_name=JOB)
        if full:
            UserProductInteraction.objects.all().delete()
            meta.watermark = None
        since = meta.watermark
        if since is not None and since >= until:
            return AggregationResult(0, since, since)
        meta.batch += 1
        params = {
            **settings.PICKS_EVENT_WEIGHTS,
            "since": since or _EPOCH,
            "until": until,
            "batch": meta.batch,
        }
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT, params)
            touched = cursor.rowcount
        meta.watermark = until
        meta.save(update_fields=["watermark", "batch", "updated_at"])
    log_step(JOB, "done", full=full, rows=touched, since=since, until=until)
    return AggregationResult(touched, since, until)
