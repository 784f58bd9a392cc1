"""Jobs that precompute lists into Redis: top buys, the global lists, bought together."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from django.conf import settings
from django.utils import timezone

from recommendations import artifacts, store
from recommendations.ml import als, popularity
from recommendations.ml.data import IdIndex, build_matrix
from recommendations.models import Interaction, ModelRun, OrderLine
from recommendations.services.clock import run_time
from recommendations.services.progress import log_step, track
from recommendations.services.publish import active_item_ids
from recommendations.services.scores import current_scores
from recommendations.services.sql import INT, fetch_array
from recommendations.services.training import NoServedModel, load_served_als, served_run


@dataclass(frozen=True)
class PublishResult:
    version: int
    lists: int


def _not_offered(users: IdIndex, items: IdIndex) -> sp.csr_matrix:
    """users x items: 1 where the user bought the item (orders or purchase events, as of the
    last update_interactions, from the scores' snapshot) or ever disliked it."""
    rows = current_scores()
    disliked = fetch_array(
        "SELECT user_id, item_id FROM recommendations_interaction WHERE kind = %s",
        [Interaction.Kind.DISLIKE],
        types=(INT, INT),
    ).astype(np.int64)
    user_ids = np.concatenate([rows.user_ids[rows.bought], disliked[:, 0]])
    item_ids = np.concatenate([rows.item_ids[rows.bought], disliked[:, 1]])
    matrix = build_matrix(user_ids, item_ids, np.ones(len(user_ids)), users=users, items=items)
    return matrix.user_items


def _inactive(items: IdIndex) -> npt.NDArray[np.int64]:
    """Column indices of items that must not be shown."""
    active = np.fromiter(active_item_ids(), dtype=np.int64)
    return np.flatnonzero(~np.isin(items.ids, active))


def generate_top_buys(*, n: int | None = None, batch_users: int = 10_000) -> PublishResult:
    """Every user's top N items from the served ALS model, bought and disliked items left out.

    A batch of users is written to Redis by a second thread while the next one is scored.
    """
    n = n or settings.PICKS_LIST_LENGTH
    run, artifact = load_served_als()
    not_offered = _not_offered(artifact.users, artifact.items)
    inactive = _inactive(artifact.items)
    with (
        store.publishing(store.TOP_BUYS) as publication,
        ThreadPoolExecutor(max_workers=1) as writer,
    ):
        written = None
        for start in track(
            range(0, len(artifact.users), batch_users), job="generate_top_buys", unit="batches"
        ):
            users = np.arange(start, min(start + batch_users, len(artifact.users)))
            ids, scores = als.top_n(
                artifact.model, not_offered, n=n, users=users, filter_items=inactive
            )
            item_ids = np.where(ids >= 0, artifact.items.ids[np.maximum(ids, 0)], -1)
            if written is not None:
                written.result()  # one batch in flight at a time; its errors surface here
            written = writer.submit(
                publication.put_rows, artifact.users.ids[users], item_ids, scores
            )
        if written is not None:
            written.result()
        publication.commit(built_at=timezone.now().isoformat(), source="als", model_run=run.pk)
    log_step("generate_top_buys", "published", version=publication.version, lists=publication.lists)
    return PublishResult(publication.version, publication.lists)


def _positive_events(
    since: timezone.datetime, until: timezone.datetime
) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray]:
    """(item id, time as epoch seconds, weight) of purchases, carts, likes and views between."""
    weights = settings.PICKS_EVENT_WEIGHTS
    lines = OrderLine.objects.filter(
        order__ordered_at__gte=since,
        order__ordered_at__lte=until,
        order__is_cancelled=False,
        quantity__gt=0,
    ).values_list("item_id", "order__ordered_at")
    rows = [(i, t.timestamp(), weights["purchase"]) for i, t in lines]
    events = Interaction.objects.filter(occurred_at__gte=since, occurred_at__lte=until).exclude(
        kind=Interaction.Kind.DISLIKE
    )
    rows += [
        (i, t.timestamp(), weights[k])
        for i, t, k in events.values_list("item_id", "occurred_at", "kind")
    ]
    array = np.array(rows, dtype=np.float64).reshape(-1, 3)
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


def bought_together_lists(rules: object, *, n: int) -> dict[int, list[tuple[int, float]]]:
    """Per item, the items of single-item rules item -> other, by lift then confidence."""
    single = rules[rules["antecedents"].map(len) == 1]
    out: dict[int, list[tuple[int, float]]] = {}
    ordered = single.sort_values(["lift", "confidence"], ascending=False)
    for antecedents, consequents, lift, confidence in ordered[
        ["antecedents", "consequents", "lift", "confidence"]
    ].itertuples(index=False):
        (item,), (other,) = tuple(antecedents), tuple(consequents)
        entries = out.setdefault(int(item), [])
        if len(entries) < n:
            # A sorted set orders by score alone: confidence (< 1) breaks ties of lift.
            entries.append((int(other), round(float(lift), 6) + float(confidence) * 1e-7))
    return out


def generate_bought_together(*, n: int | None = None) -> PublishResult:
    """`product:{id}:bought_together` from the latest rules mined from the orders."""
    n = n or settings.PICKS_LIST_LENGTH
    run = served_run(ModelRun.Kind.BASKET)
    if run is None:
        raise NoServedModel("no basket rules are published: run train_market_basket first")
    rules = artifacts.load(run.artifact_name).rules
    active = active_item_ids()
    lists = bought_together_lists(rules, n=n)
    with store.publishing(store.BOUGHT_TOGETHER) as publication:
        for item, entries in lists.items():
            if item in active:
                kept = [(other, s) for other, s in entries if other in active]
                publication.put(item, [o for o, _ in kept], [s for _, s in kept])
        publication.commit(built_at=timezone.now().isoformat(), source="basket", model_run=run.pk)
    log_step(
        "generate_bought_together",
        "published",
        version=publication.version,
        lists=publication.lists,
    )
    return PublishResult(publication.version, publication.lists)
