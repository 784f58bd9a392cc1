"""`refresh_users`: the lists of users who just acted, rewritten between batch runs.

PostgreSQL is the truth: a trigger queues every user with a new event or order line
(`PendingRefresh`) in the transaction that stores it, and a refresher deletes a user's rows in
the transaction that refreshes them. A Redis notice sent after the commit only wakes a
refresher at once; without it the queue is looked at every `PICKS_REFRESH_POLL_SECONDS`.
Per user: ALS factors recomputed from all their current events against the served item
factors (implicit's user step), an MF vector and bias solved against the served item
embeddings from their likes and dislikes; then their top buys, deck and MF vector are written
into the live versions (see store/fresh.py for how they meet versions and rollback).
"""

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from redis.exceptions import RedisError

from recommendations import artifacts, store
from recommendations.ml import als, blend, foldin
from recommendations.ml.data import aggregate, confidence, top_k
from recommendations.models import ModelRun, PendingRefresh
from recommendations.services import aggregation, tables
from recommendations.services.clock import run_time
from recommendations.services.precompute.decks import DeckContext, deck_context, swiped_matrices
from recommendations.services.progress import log_step
from recommendations.services.publish import active_item_ids
from recommendations.services.sql import FLOAT, INT, TIME, fetch_array
from recommendations.services.training.model_runs import served_run

logger = logging.getLogger(__name__)

JOB = "refresh_users"
FAMILIES = (store.TOP_BUYS, store.DECK, store.MF)
_LOCK_SPACE = 0x5049434B << 24  # keeps these advisory locks apart from any other use
_MODEL_CHECK_SECONDS = 1.0
_FORGET_AFTER_SECONDS = 7 * 86_400
_NOTICE_WAIT_SECONDS = 0.25


class VersionMoved(Exception):
    """A batch publish or a rollback switched a family while users were being refreshed."""


@dataclass
class ServedModels:
    """The batch-trained models a refresher folds users into, reloaded when a new run is
    published."""

    als_run: int | None = None
    als: object | None = None  # AlsArtifact
    mf_run: int | None = None
    mf: object | None = None  # MfArtifact
    deck: DeckContext | None = None
    checked: float = 0.0

    def current(self) -> bool:
        """Whether these are still the served runs (asked at most once a second)."""
        if time.monotonic() - self.checked < _MODEL_CHECK_SECONDS:
            return True
        self.checked = time.monotonic()
        return (self.als_run, self.mf_run) == (
            _served_id(ModelRun.Kind.ALS),
            _served_id(ModelRun.Kind.MF),
        )


def _served_id(kind: str) -> int | None:
    run = served_run(kind)
    return run.pk if run else None


def load_models() -> ServedModels:
    """The served ALS and MF models (either may be missing: its lists are then not refreshed)."""
    models = ServedModels(checked=time.monotonic())
    als_run, mf_run = served_run(ModelRun.Kind.ALS), served_run(ModelRun.Kind.MF)
    if als_run and artifacts.readable(als_run.artifact_name):
        models.als_run, models.als = als_run.pk, artifacts.load(als_run.artifact_name)
    if mf_run and artifacts.readable(mf_run.artifact_name):
        models.mf_run, models.mf = mf_run.pk, artifacts.load(mf_run.artifact_name)
        seen, _ = swiped_matrices(models.mf.users, models.mf.items)
        models.deck = deck_context(models.mf, n=settings.PICKS_LIST_LENGTH, seen=seen)
    log_step(JOB, "models", als=models.als_run, mf=models.mf_run)
    return models


# ---- what one user did --------------------------------------------------------------------


def _users_in(user_ids: list[int]) -> str:
    return ", ".join(str(int(u)) for u in user_ids)


@dataclass
class History:
    """Every event of a few users: their aggregated pairs and their swipes."""

    pairs: dict[int, tuple[np.ndarray, ...]] = field(default_factory=dict)  # items, scores, ages
    bought: dict[int, set[int]] = field(default_factory=dict)
    swipes: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # items, 1/0

    def hidden(self, user: int) -> set[int]:
        """Items never to offer the user in top buys: bought or (last swiped as) disliked."""
        items, liked = self.swipes.get(user, (np.empty(0, np.int64), np.empty(0)))
        return self.bought.get(user, set()) | set(items[liked == 0].tolist())

    def seen(self, user: int) -> set[int]:
        """Items never to show the user in a deck again: swiped or bought."""
        return set(self.swipes[user][0].tolist()) | self.bought.get(user, set())


def read_history(user_ids: list[int]) -> History:
    """The users' events and order lines weighted as update_interactions weighs them (the same
    SQL), summed per item as of the run's time, and their likes and dislikes."""
    users = _users_in(user_ids)
    rows = fetch_array(
        f"SELECT * FROM ({aggregation.ROWS.format(**aggregation.FROM_ALL)}) r "
        f"WHERE r.user_id IN ({users})",
        settings.PICKS_EVENT_WEIGHTS,
        types=(INT, INT, TIME, FLOAT, INT),
    )
    swipes = fetch_array(
        "SELECT user_id, item_id, CASE WHEN kind = 'like' THEN 1 ELSE 0 END, occurred_at "
        f"FROM {tables.EVENTS} WHERE kind IN ('like', 'dislike') AND user_id IN ({users})",
        types=(INT, INT, INT, TIME),
    )
    history = History()
    if len(rows):
        table = aggregate(
            rows[:, 0], rows[:, 1], rows[:, 3], rows[:, 2], now=run_time().timestamp()
        )
        for user in np.unique(table.user_ids).tolist():
            mine = table.user_ids == user
            history.pairs[user] = (table.item_ids[mine], table.scores[mine], table.age_days[mine])
        for user, item in rows[rows[:, 4] > 0][:, :2].astype(np.int64).tolist():
            history.bought.setdefault(user, set()).add(item)
    # The latest swipe of an item counts (a like taken back by a dislike is a dislike).
    swipes = swipes[np.argsort(swipes[:, 3], kind="stable")]
    for user in np.unique(swipes[:, 0]).astype(np.int64).tolist():
        mine = swipes[swipes[:, 0] == user]
        latest = dict(zip(mine[:, 1].astype(np.int64).tolist(), mine[:, 2].tolist(), strict=True))
        history.swipes[user] = (np.array(list(latest), np.int64), np.array(list(latest.values())))
    return history


# ---- one user's lists ---------------------------------------------------------------------


def _row(values: npt.NDArray, columns: npt.NDArray[np.int64], width: int) -> sp.csr_matrix:
    keep = columns >= 0
    return sp.csr_matrix(
        (values[keep].astype(np.float32), (np.zeros(keep.sum(), int), columns[keep])),
        shape=(1, width),
    )


def als_rows(artifact: object, pairs: list[tuple]) -> sp.csr_matrix:
    """One row of ALS input per user (their pairs as of now), in the served model's items."""
    rows = []
    for item_ids, scores, ages in pairs:
        columns = artifact.items.index_of(item_ids)
        values = confidence(scores, ages, half_life_days=artifact.params.half_life_days)
        rows.append(_row(values, np.where(values > 0, columns, -1), len(artifact.items)))
    return sp.vstack(rows, format="csr") if rows else sp.csr_matrix((0, len(artifact.items)))


def fresh_top_buys(
    artifact: object,
    *,
    row: sp.csr_matrix,
    factors: npt.NDArray[np.float32],
    hidden: set[int],
    inactive: npt.NDArray[np.bool_],
    n: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """Item ids, scores and because of a user's top buys from their folded-in ALS factors
    and `row`, their input as of now (a blend adds their item-item neighbours and the
    model's demand), hidden and inactive items left out."""
    model = artifact.blended
    ranked = blend.scores(model, factors[None, :], row)[0]
    ranked[inactive] = als.FILTERED_SCORE
    hidden_columns = artifact.items.index_of(np.fromiter(hidden, np.int64, len(hidden)))
    ranked[hidden_columns[hidden_columns >= 0]] = als.FILTERED_SCORE
    top = top_k(ranked[None, :], min(n, len(ranked)))[0]
    top = top[ranked[top] > als.FILTERED_SCORE]
    because = blend.explain(model, row, artifact.items.ids, top[None, :])[0]
    return artifact.items.ids[top], ranked[top].astype(np.float32), because


def fresh_swipe_lists(
    artifact: object, context: DeckContext, *, user_id: int, swipes: tuple, seen: set[int]
) -> tuple[npt.NDArray[np.float32], tuple]:
    """A user's MF vector folded in from their swipes (and sampled unseen items as the batch
    samples and weighs them), and their deck: item ids, scores, source codes, because."""
    items, targets = swipes
    columns = artifact.items.index_of(items)
    known = columns >= 0
    columns, targets = columns[known], np.asarray(targets, np.float32)[known]
    rng = np.random.default_rng(user_id)
    params = artifact.model.params
    count = round(params.negatives_per_positive * int((targets > 0).sum()))
    drawn = rng.integers(0, len(artifact.items), 2 * count)  # as training draws them
    drawn = drawn[~np.isin(drawn, columns)]
    sampled = drawn[np.sort(np.unique(drawn, return_index=True)[1])][:count]  # first draws
    vector, weights = foldin.mf_user_vector(
        context.item_vectors,
        np.concatenate([columns, sampled]),
        np.concatenate([targets, np.zeros(len(sampled), np.float32)]),
        sample_weights=np.r_[np.ones(len(columns)), np.full(len(sampled), params.negative_weight)],
        l2=settings.PICKS_FOLDIN_L2,
    )
    seen_columns = artifact.items.index_of(np.fromiter(seen, np.int64, len(seen)))
    seen_row = _row(np.ones(len(seen_columns)), seen_columns, len(artifact.items))
    liked = targets[: len(columns)] > 0
    likes_row = _row(weights[: len(columns)][liked], columns[liked], len(artifact.items))
    deck, scores, sources, because = (
        part[0] for part in context.decks(vector[None, :], seen_row, likes_row, rng=rng)
    )
    shown = deck >= 0
    deck, scores, sources, because = deck[shown], scores[shown], sources[shown], because[shown]
    return vector, (artifact.items.ids[deck], scores, sources, because)


def _add_top_buys(
    fresh: store.FreshLists, artifact: object, user_ids: list[int], history: History, active
) -> None:
    """Top buys of the users with a positive score (the others have nothing to fold in)."""
    inactive = ~np.isin(artifact.items.ids, active)
    users = [u for u in user_ids if u in history.pairs]
    rows = als_rows(artifact, [history.pairs[u] for u in users])
    factors = foldin.als_user_factors(artifact.model, rows)  # one call for all of them
    for index, user in enumerate(users):
        if rows[index].nnz:
            ids, scores, because = fresh_top_buys(
                artifact, row=rows[index], factors=factors[index], hidden=history.hidden(user),
                inactive=inactive, n=settings.PICKS_LIST_LENGTH,
            )  # fmt: skip
            fresh.add_list(store.TOP_BUYS, user, ids, scores, "als", because)


def _add_swipe_lists(
    fresh: store.FreshLists, models: ServedModels, user_ids: list[int], history: History,
    active, versions: dict[str, int],
) -> None:  # fmt: skip
    """MF vectors and decks of the users who swiped."""
    models.deck.blocked = ~np.isin(models.mf.items.ids, active)
    for user in user_ids:
        if user not in history.swipes:
            continue
        vector, deck = fresh_swipe_lists(
            models.mf, models.deck, user_id=user, swipes=history.swipes[user],
            seen=history.seen(user),
        )  # fmt: skip
        if store.MF in versions:
            fresh.add_vector(store.MF, ("user", user), vector)
        if store.DECK in versions:
            fresh.add_list(store.DECK, user, *deck)


def refresh(user_ids: list[int], *, models: ServedModels, read_at: float | None = None) -> int:
    """Rewrite the users' top buys, decks and MF vectors inside the live versions; how many
    lists were written. Raises VersionMoved if a family switched meanwhile (nothing written).
    The users are marked refreshed as of `read_at` (default now): every event committed
    before it is in their new lists."""
    read_at = time.time() if read_at is None else read_at
    versions = store.live_versions(FAMILIES)
    history = read_history(user_ids)
    active = np.fromiter(active_item_ids(), np.int64)
    fresh = store.FreshLists()
    if models.als is not None and store.TOP_BUYS in versions:
        _add_top_buys(fresh, models.als, user_ids, history, active)
    if models.mf is not None and models.deck is not None:
        _add_swipe_lists(fresh, models, user_ids, history, active, versions)
    if not store.write_fresh(fresh, versions=versions):
        raise VersionMoved("a family switched while its lists were refreshed")
    store.mark_refreshed(user_ids, at=read_at)
    return len(fresh.lists)


# ---- claiming users from the queue -----------------------------------------------------------


def _lock_users(cursor: object, user_ids: list[int], *, limit: int) -> list[int]:
    """Up to `limit` of the users, in order, whose refresh lock this transaction got
    (PostgreSQL: an advisory lock each, released at commit, so two refreshers never write one
    user at once; the LIMIT stops the locking once enough are held. SQLite's single writer
    lock does the same from the first delete on)."""
    if connection.vendor != "postgresql":
        return user_ids[:limit]
    cursor.execute(
        "SELECT u FROM unnest(%s::bigint[]) AS u WHERE pg_try_advisory_xact_lock(%s + u) LIMIT %s",
        [user_ids, _LOCK_SPACE, limit],
    )
    return [row[0] for row in cursor.fetchall()]


def claim_and_refresh(*, models: ServedModels, prefer: set[int], limit: int) -> int:
    """Claim up to `limit` queued users (those in `prefer` first), refresh them and delete
    their queue rows in one transaction; how many users were refreshed. A crash or an error
    rolls the deletes back: the users stay queued."""
    queue = tables.QUEUED_REFRESHES
    read_at = time.time()  # before the claim: whatever committed by now is read below
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT user_id FROM {queue} ORDER BY id LIMIT %s", [limit * 20])
        candidates = list(dict.fromkeys([*sorted(prefer), *(r[0] for r in cursor.fetchall())]))
        if not candidates:
            return 0
        mine = _lock_users(cursor, candidates, limit=limit)
        if not mine:
            return 0
        # Exactly the rows committed by now: one committed later stays for the next pass.
        cursor.execute(
            f"DELETE FROM {queue} WHERE user_id IN ({_users_in(mine)}) RETURNING user_id"
        )
        claimed = sorted({row[0] for row in cursor.fetchall()})
        if claimed:
            refresh(claimed, models=models, read_at=read_at)
    return len(claimed)


# ---- when a batch publish or a rollback supersedes fresh lists ------------------------------


def superseded_since(seen: dict[str, int]) -> tuple[dict[str, int], float | None]:
    """The live versions now, and, if one changed since `seen`, the time the data of the
    version it replaced was read: every user refreshed since wrote into the old version only
    (or into one the new version's models may not know), so they are refreshed again."""
    now = store.live_versions(FAMILIES)
    changed = [f for f in now if seen and seen.get(f) != now[f]]
    if not changed:
        return now, None
    cuts = [
        float(store.version_meta(f, version=seen[f]).get("data_as_of") or 0.0) if f in seen else 0.0
        for f in changed
    ]
    return now, min(cuts)


def requeue_refreshed_since(timestamp: float) -> int:
    """Queue again (in PostgreSQL) the users refreshed at or after `timestamp`."""
    users = store.refreshed_since(timestamp)
    PendingRefresh.objects.bulk_create(PendingRefresh(user_id=u) for u in users)
    store.forget_refreshed_before(time.time() - _FORGET_AFTER_SECONDS)
    return len(users)


# ---- the long-running job ----------------------------------------------------------------------


def run_refresher(
    *,
    poll_seconds: float | None = None,
    batch: int | None = None,
    once: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Refresh queued users until `stop` is set (or, `once`, until the queue is empty); how
    many refreshes were done. Redis or the database going away pauses it, never ends it."""
    poll = settings.PICKS_REFRESH_POLL_SECONDS if poll_seconds is None else poll_seconds
    batch = batch or settings.PICKS_REFRESH_BATCH
    consumer = f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"
    stop = stop or threading.Event()
    models: ServedModels | None = None
    versions: dict[str, int] = {}
    total, busy, looked = 0, True, 0.0
    while not stop.is_set():
        try:
            if models is None or not models.current():
                models = load_models()
            versions, cut = superseded_since(versions)
            if cut is not None:
                log_step(JOB, "superseded", requeued=requeue_refreshed_since(cut))
            # Short blocking reads: a read must end well inside the store's socket timeout.
            wait = 0 if busy or once else int(min(poll, _NOTICE_WAIT_SECONDS) * 1000)
            prefer = store.wait_for_notices(consumer=consumer, timeout_ms=wait)
            done = 0
            if prefer or busy or once or time.monotonic() - looked >= poll:
                looked = time.monotonic()
                done = claim_and_refresh(models=models, prefer=prefer, limit=batch)
        except VersionMoved:
            models, done = None, 1  # reload and try again at once
        except (RedisError, DatabaseError) as exc:
            logger.warning("refresher paused: %s", exc)
            connection.close()
            stop.wait(1.0)
            done = 0
        total += done
        busy = done > 0
        if once and not busy:
            break
    return total
