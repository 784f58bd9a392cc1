"""The aggregated scores the models train on (and which items each user bought): read whole
from PostgreSQL once, then kept as a snapshot in storage, so that the next read fetches only
the rows update_interactions wrote since (each row carries the batch number of the run that
last wrote it).

The database names the snapshot (a ScoreSnapshot row), so a database restored from a backup,
or another database, never picks up a snapshot that is not its own. A snapshot is used only
when it adds up: merged with the changed rows, it must hold exactly as many pairs as the
table has. Rows that left the table (a deleted user or item, a full rebuild) make it hold
more, and the table is read whole again.
"""

from contextlib import contextmanager

import numpy as np
from django.db import connection, transaction

from recommendations import artifacts
from recommendations.ml.scores import ScoreRows
from recommendations.models import BatchMetadata, ScoreSnapshot
from recommendations.services import tables
from recommendations.services.aggregation import JOB
from recommendations.services.progress import log_step
from recommendations.services.sql import FLOAT, INT, TIME, fetch_array

KIND = "scores"
_SELECT = (
    "SELECT user_id, product_id, score, last_updated_at, CASE WHEN bought THEN 1 ELSE 0 END "
    f"FROM {tables.SCORES}"
)
_KEPT = "score > 0 OR bought"  # the rows a snapshot holds
_TYPES = (INT, INT, FLOAT, TIME, INT)


def current_scores() -> ScoreRows:
    """Every pair with a positive score or a purchase, from the snapshot and the rows changed
    since when that adds up, else from the whole table; what was read is stored for the next
    time."""
    stored = _stored()
    if stored is not None:
        rows, through = stored
        with _one_view():
            changed = fetch_array(_SELECT + " WHERE batch > %s", [through], types=_TYPES)
            latest, total = _latest_batch(), _kept_rows()
        try:
            merged = rows.merged(*changed.T)
        except ValueError:  # ids the pair keys cannot hold
            merged = None
        if merged is not None and len(merged) == total:
            if len(changed):
                _store(merged, through=latest)
            log_step("scores", "snapshot and changes", rows=len(merged), changed=len(changed))
            return merged
        log_step("scores", "snapshot stale", rows=total)
    # Rows of runs after `through` may be half read below: the next read fetches them again.
    through = _latest_batch()
    whole = fetch_array(f"{_SELECT} WHERE {_KEPT}", types=_TYPES, parts=2)
    try:
        rows = ScoreRows.of(*whole.T)
    except ValueError:  # ids the pair keys cannot hold: no snapshot, unsorted rows
        users, items, scores, times, bought = whole.T
        return ScoreRows(
            users.astype(np.int64), items.astype(np.int64), scores, times, bought.astype(bool)
        )
    log_step("scores", "read whole", rows=len(rows))
    _store(rows, through=through)
    return rows


def _stored() -> tuple[ScoreRows, int] | None:
    """The rows of this database's snapshot and the batch they are complete up to, if there
    is one and it reads back whole."""
    snapshot = ScoreSnapshot.objects.first()
    if snapshot is None:
        return None
    try:
        rows = ScoreRows.from_bytes(artifacts.load_bytes(snapshot.artifact_name))
    except (artifacts.ArtifactMissing, OSError, ValueError) as exc:
        log_step("scores", "snapshot unreadable", name=snapshot.artifact_name, error=str(exc))
        return None
    if len(rows) != snapshot.rows:
        log_step("scores", "snapshot unreadable", name=snapshot.artifact_name, rows=len(rows))
        return None
    return rows, snapshot.through_batch


def _store(rows: ScoreRows, *, through: int) -> None:
    """Store `rows` as the snapshot; older ones (rows and files) go."""
    name = artifacts.save_bytes(kind=KIND, data=rows.to_bytes(), suffix="npz")
    snapshot = ScoreSnapshot.objects.create(
        artifact_name=name, through_batch=through, rows=len(rows)
    )
    ScoreSnapshot.objects.exclude(pk=snapshot.pk).delete()
    kept = set(ScoreSnapshot.objects.values_list("artifact_name", flat=True))
    artifacts.prune(KIND, keep=kept)
    log_step("scores", "snapshot stored", name=name, rows=len(rows), through=through)


@contextmanager
def _one_view():
    """The reads inside see one state of the database (REPEATABLE READ on PostgreSQL, when
    not already inside a transaction)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def _latest_batch() -> int:
    meta = BatchMetadata.objects.filter(job_name=JOB).values_list("batch", flat=True).first()
    return meta or 0


def _kept_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {tables.SCORES} WHERE {_KEPT}")
        return cursor.fetchone()[0]
