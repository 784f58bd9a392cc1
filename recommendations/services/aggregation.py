"""`update_interactions`: events and order lines folded into user_product_interactions, in SQL."""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from recommendations.models import BatchMetadata, Interaction, OrderLine, UserProductInteraction
from recommendations.services import tables
from recommendations.services.progress import log_step

JOB = "update_interactions"

# Rows are taken from queues, not picked by time: a trigger queues every inserted event and
# order line in its own transaction, and a run deletes from the queues exactly the rows it
# folds in, in the transaction that folds them. A transaction that commits late (however long
# after its rows' timestamps) is taken by the next run, and no row twice. The run's lock on
# its BatchMetadata row keeps two runs apart. (See models.PendingInteraction.)
_EVENTS, _LINES, _ORDERS, _SCORES = tables.EVENTS, tables.LINES, tables.ORDERS, tables.SCORES
_QUEUED_EVENTS, _QUEUED_LINES = tables.QUEUED_EVENTS, tables.QUEUED_LINES

# Events and order lines as (user, item, time, weight, purchased) rows; `%(...)s` placeholders
# keep the weights. {events} and {lines} are where the rows come from (a queue join, or all).
ROWS = f"""
    SELECT i.user_id, i.item_id, i.occurred_at AS happened_at,
        CASE i.kind
            WHEN 'purchase' THEN %(purchase)s WHEN 'cart' THEN %(cart)s
            WHEN 'like' THEN %(like)s WHEN 'view' THEN %(view)s
            WHEN 'dislike' THEN %(dislike)s ELSE 0 END AS weight,
        CASE i.kind WHEN 'purchase' THEN 1 ELSE 0 END AS purchased
    FROM {_EVENTS} i {{events}}
    UNION ALL
    SELECT o.customer_id, l.item_id, o.ordered_at,
        CASE WHEN o.is_cancelled OR l.quantity < 0 THEN -%(purchase)s ELSE %(purchase)s END,
        CASE WHEN NOT o.is_cancelled AND l.quantity > 0 THEN 1 ELSE 0 END
    FROM {_LINES} l {{lines}}
    JOIN {_ORDERS} o ON o.id = l.order_id
    WHERE o.customer_id IS NOT NULL
"""
# ON CONFLICT adds to an existing score (PostgreSQL and SQLite alike); every row written is
# stamped with the run's batch number; `bought` marks a purchase event or a line of an order
# that was not cancelled (a later return does not unmark it).
_UPSERT = f"""
INSERT INTO {_SCORES} (user_id, product_id, score, last_updated_at, batch, bought)
SELECT user_id, item_id, SUM(weight), MAX(happened_at), %(batch)s, MAX(purchased) = 1
FROM ({{rows}}) AS events
WHERE TRUE
GROUP BY user_id, item_id
ON CONFLICT (user_id, product_id) DO UPDATE SET
    score = {_SCORES}.score + excluded.score,
    last_updated_at = CASE
        WHEN excluded.last_updated_at > {_SCORES}.last_updated_at
        THEN excluded.last_updated_at ELSE {_SCORES}.last_updated_at END,
    batch = excluded.batch,
    bought = {_SCORES}.bought OR excluded.bought
"""
# PostgreSQL: the queues are emptied and their rows folded in by one statement, so a row
# queued by a transaction that commits meanwhile is neither deleted nor read.
_CLAIM_AND_FOLD = f"""
WITH claimed_events AS (DELETE FROM {_QUEUED_EVENTS} RETURNING id),
claimed_lines AS (DELETE FROM {_QUEUED_LINES} RETURNING id),
folded AS ({{upsert}} RETURNING 1)
SELECT (SELECT count(*) FROM claimed_events) + (SELECT count(*) FROM claimed_lines),
    (SELECT count(*) FROM folded)
"""
_FROM_CLAIMED = {
    "events": "JOIN claimed_events c ON c.id = i.id",
    "lines": "JOIN claimed_lines c ON c.id = l.id",
}
_FROM_QUEUES = {
    "events": f"JOIN {_QUEUED_EVENTS} q ON q.id = i.id",
    "lines": f"JOIN {_QUEUED_LINES} q ON q.id = l.id",
}
FROM_ALL = {"events": "", "lines": ""}


@dataclass(frozen=True)
class AggregationResult:
    rows_touched: int
    events: int  # events and order lines folded in by this run (queued ones, or all)
    batch: int


def _fold(cursor: object, *, params: dict, full: bool) -> tuple[int, int]:
    """Empty the queues and fold their rows (or, `full`, every row) into the scores: how many
    events and lines were taken, and how many scores were written."""
    if connection.vendor == "postgresql":
        source = FROM_ALL if full else _FROM_CLAIMED
        upsert = _UPSERT.format(rows=ROWS.format(**source))
        cursor.execute(_CLAIM_AND_FOLD.format(upsert=upsert), params)
        taken, written = cursor.fetchone()
    else:
        taken, written = _fold_sqlite(cursor, params=params, full=full)
    if full:
        taken = Interaction.objects.count() + OrderLine.objects.count()
    return int(taken), int(written)


def _fold_sqlite(cursor: object, *, params: dict, full: bool) -> tuple[int, int]:
    # SQLite: this transaction holds the database's only write lock from the first write on,
    # so nothing is queued between the fold and the deletes.
    cursor.execute(f"SELECT (SELECT count(*) FROM {_QUEUED_EVENTS}) + "
                   f"(SELECT count(*) FROM {_QUEUED_LINES})")  # fmt: skip
    taken = cursor.fetchone()[0]
    cursor.execute(_UPSERT.format(rows=ROWS.format(**(FROM_ALL if full else _FROM_QUEUES))), params)
    written = cursor.rowcount
    cursor.execute(f"DELETE FROM {_QUEUED_EVENTS}")
    cursor.execute(f"DELETE FROM {_QUEUED_LINES}")
    return taken, written


def _nothing_queued(cursor: object) -> bool:
    cursor.execute(
        f"SELECT NOT EXISTS (SELECT 1 FROM {_QUEUED_EVENTS}) "
        f"AND NOT EXISTS (SELECT 1 FROM {_QUEUED_LINES})"
    )
    return bool(cursor.fetchone()[0])


def update_interactions(*, full: bool = False) -> AggregationResult:
    """Fold every committed event and order line no run has folded yet into the scores.

    `full` rebuilds every score from all events and orders. With nothing new the run writes
    nothing and keeps its batch number.
    """
    with transaction.atomic():
        meta, _ = BatchMetadata.objects.select_for_update().get_or_create(job_name=JOB)
        with connection.cursor() as cursor:
            if not full and _nothing_queued(cursor):
                return AggregationResult(0, 0, meta.batch)
            batch = meta.batch + 1
            if full:
                UserProductInteraction.objects.all().delete()
            taken, touched = _fold(
                cursor, params={**settings.PICKS_EVENT_WEIGHTS, "batch": batch}, full=full
            )
        meta.batch, meta.watermark = batch, timezone.now()
        meta.save(update_fields=["watermark", "batch", "updated_at"])
    log_step(JOB, "done", full=full, rows=touched, events=taken, batch=batch)
    return AggregationResult(touched, taken, batch)
