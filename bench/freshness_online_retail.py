"""Fold-in on real orders: Online Retail customers held out of training post their first k
orders; nDCG@10 of their top buys on their later orders, fresh against the global list
(what they get today) and against a full retrain that includes the posted orders.

    .venv/bin/python bench/freshness_online_retail.py [PATH] [--cohort 150]

PATH defaults to ../shared/data/online_retail/online_retail.csv.gz. Imports it into a scratch
database, holds the cohorts' orders back, runs the batch on the rest, posts each held-out
customer's first k orders through the order service (the refresher's queue fills as from the
API), refreshes, scores, then retrains (update_interactions, train_als_model --force,
generate_top_buys) and scores again. Recency counts from the data's last day (AS_OF).
"""

import argparse
import datetime as dt
import os
import time
from pathlib import Path

import numpy as np
from common import (
    SHARED_DATA,
    django_setup,
    fresh_database,
    machine,
    manage,
    write_section,
)

PREFIX = "picks-bench-fresh-retail"
KS = (1, 3, 5)


def top10(chain: list, exclude: set[int]) -> list[int]:
    from recommendations import store

    page = store.read_page(chain, want=10, stored=100, exclude=exclude)
    return [e.item_id for e in page.entries]


def ndcg(lists: dict[int, list[int]], truth: dict[int, set[int]]) -> float:
    import scipy.sparse as sp

    from recommendations.ml.data import IdIndex
    from recommendations.ml.evaluate import ranking_metrics

    users = sorted(truth)
    items = IdIndex.of(sorted({i for u in users for i in truth[u] | set(lists.get(u, []))}))
    top = np.full((len(users), 10), -1, dtype=np.int64)
    for row, user in enumerate(users):
        got = lists.get(user, [])[:10]
        top[row, : len(got)] = items.index_of(np.array(got, dtype=np.int64))
    rows = [r for r, u in enumerate(users) for _ in truth[u]]
    cols = items.index_of(np.array([i for u in users for i in truth[u]], dtype=np.int64))
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(users), len(items)))
    return ranking_metrics(top, matrix, k=10)["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "path", nargs="?", type=Path, default=SHARED_DATA / "online_retail/online_retail.csv.gz"
    )
    parser.add_argument("--cohort", type=int, default=150, help="held-out customers per k")
    parser.add_argument("--database", default="picks_bench_fresh_retail")
    args = parser.parse_args()
    if not args.path.exists():
        raise SystemExit(f"{args.path} is missing: pass the Online Retail file's path")
    url = fresh_database(args.database)
    manage("import_orders", str(args.path.resolve()), database_url=url)
    django_setup(database_url=url, redis_prefix=PREFIX)
    from django.db.models import Max

    from recommendations.models import Order, PendingRefresh
    from recommendations.services import freshness
    from recommendations.services.interactions import OrderLineIn, create_order

    last = Order.objects.aggregate(last=Max("ordered_at"))["last"] + dt.timedelta(days=1)
    os.environ["AS_OF"] = last.isoformat()
    env = {"PICKS_REDIS_PREFIX": PREFIX, "LOG_LEVEL": "WARNING", "AS_OF": last.isoformat()}
    from django.conf import settings

    settings.PICKS_AS_OF = last

    orders: dict[int, list] = {}
    for order in (
        Order.objects.filter(customer__isnull=False, is_cancelled=False)
        .order_by("ordered_at", "pk")
        .prefetch_related("lines")
    ):
        lines = [(line.item_id, line.quantity, line.unit_price) for line in order.lines.all()]
        orders.setdefault(order.customer_id, []).append((order.invoice_no, order.ordered_at, lines))
    rng = np.random.default_rng(5)
    taken: set[int] = set()
    cohorts: dict[int, list[int]] = {}
    for k in KS:
        eligible = [c for c, o in orders.items() if len(o) > k and c not in taken]
        cohorts[k] = rng.choice(eligible, min(args.cohort, len(eligible)), replace=False).tolist()
        taken.update(cohorts[k])
    Order.objects.filter(customer_id__in=taken).delete()
    for job in ("update_interactions", "publish_catalog", "train_als_model",
                "generate_top_buys", "generate_global_top_buys"):  # fmt: skip
        manage(job, database_url=url, extra_env=env)
    PendingRefresh.objects.all().delete()

    from accounts.models import User
    from recommendations import store

    truth, posted = {}, {}
    for k, customers in cohorts.items():
        for customer in customers:
            first, later = orders[customer][:k], orders[customer][k:]
            user = User.objects.get(pk=customer)
            for invoice, at, lines in first:
                create_order(
                    invoice_no=invoice, customer=user, ordered_at=at,
                    lines=[OrderLineIn(i, q, p) for i, q, p in lines],
                )  # fmt: skip
            posted[customer] = {i for _, _, lines in first for i, q, _ in lines if q > 0}
            later_items = {i for _, _, lines in later for i, q, _ in lines if q > 0}
            truth[customer] = later_items - posted[customer]

    def scores(personal: bool) -> dict[int, float]:
        out = {}
        for k, customers in cohorts.items():
            lists = {}
            for c in customers:
                chain = [(store.TOP_BUYS, c)] if personal else []
                chain.append((store.GLOBAL, store.GLOBAL_TOP_BUYS))
                lists[c] = top10(chain, posted[c])
            out[k] = ndcg(lists, {c: truth[c] for c in customers if truth[c]})
        return out

    today = scores(personal=False)
    models = freshness.load_models()
    started, refreshed = time.perf_counter(), 0
    while done := freshness.claim_and_refresh(models=models, prefer=set(), limit=50):
        refreshed += done
    refresh_seconds = time.perf_counter() - started
    fresh = scores(personal=True)
    retrain_started = time.perf_counter()
    for job in (["update_interactions"], ["train_als_model", "--force"], ["generate_top_buys"]):
        manage(*job, database_url=url, extra_env=env)
    retrain_seconds = time.perf_counter() - retrain_started
    retrained = scores(personal=True)
    rows = [
        f"| {k} | {len(cohorts[k])} | {today[k]:.4f} | {fresh[k]:.4f} | {retrained[k]:.4f} | "
        f"{fresh[k] / retrained[k]:.2f} | {fresh[k] / today[k]:.2f} |"
        for k in KS
    ]
    write_section(
        "Freshness: Online Retail top buys",
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/freshness_online_retail.py --cohort {args.cohort}`
(data: {args.path.name}; AS_OF {last.date()}).

Customers held out of training entirely (their orders removed before the batch) post their
first k orders; nDCG@10 of their top buys against the items of their later orders (items of
the posted orders left out). Today: the global top buys (no personal list before the next
batch). Refresher: {refreshed} customers refreshed in {refresh_seconds:.1f} s. Full retrain
(update_interactions, train_als_model --force, generate_top_buys): {retrain_seconds:.0f} s.

| k orders | customers | today (global) | refresher | retrain | fresh / retrain | fresh / global |
| ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}
""",
    )


if __name__ == "__main__":
    main()
