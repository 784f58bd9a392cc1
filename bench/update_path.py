"""The update path's cost: `update_interactions` when nothing is new and with 1 % new events,
against the cheapest reads that could answer the same question, and a publish's version sweep
against a bare SCAN of the same keys, on a synthetic shop.

    .venv/bin/python bench/update_path.py [--users 20000 --items 5000 --events 1000000]

Each figure is the median of `--repeats` alternating runs of both sides in one process.
"""

import argparse
import datetime as dt
import time
from statistics import median

from common import django_setup, fresh_database, machine, manage, write_section


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _sql(statement: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement)
        cursor.fetchall()


def _add_events(count: int) -> None:
    """`count` new views by random users on random items, as the API would store them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO recommendations_interaction "
            "(user_id, item_id, kind, occurred_at, received_at) "
            "SELECT u.ids[1 + floor(random() * cardinality(u.ids))::int], "
            "i.ids[1 + floor(random() * cardinality(i.ids))::int], 'view', now(), now() "
            "FROM (SELECT array_agg(id) AS ids FROM accounts_user) AS u, "
            "(SELECT array_agg(id) AS ids FROM catalog_item) AS i, generate_series(1, %s)",
            [count],
        )


def measure(repeats: int) -> str:
    from django.db import connection

    from recommendations import store
    from recommendations.services.aggregation import update_interactions
    from recommendations.services.precompute.global_lists import generate_global_top_buys

    first = _timed(update_interactions)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM recommendations_interaction")
        events = cursor.fetchone()[0]
        cursor.execute("VACUUM ANALYZE")
    idle, idle_bare, new, new_bare = [], [], [], []
    bare_new = (
        "SELECT user_id, item_id, count(*) FROM recommendations_interaction "
        "WHERE id > {last} GROUP BY user_id, item_id"
    )
    bare_idle = (
        "SELECT (SELECT 1 FROM picks_pending_interaction LIMIT 1), "
        "(SELECT 1 FROM picks_pending_orderline LIMIT 1)"
    )
    for _ in range(repeats):
        idle.append(_timed(update_interactions))
        idle_bare.append(_timed(lambda: _sql(bare_idle)))
        with connection.cursor() as cursor:
            cursor.execute("SELECT max(id) FROM recommendations_interaction")
            last = cursor.fetchone()[0]
        _add_events(events // 100)
        new_bare.append(_timed(lambda last=last: _sql(bare_new.format(last=last))))
        new.append(_timed(update_interactions))

    # A publish sweeps every version key once; the store holds a full set of per-user lists.
    with store.publishing(store.TOP_BUYS) as publication:
        for user in range(100_000):
            publication.put(user, [1, 2, 3], [0.3, 0.2, 0.1])
        publication.commit(built_at="bench")
    generate_global_top_buys()
    keys = store.client().dbsize()
    pattern = store.keys.everything()

    def bare_scan() -> None:
        for _ in store.client().scan_iter(match=pattern, count=5000):
            pass

    live = store.live_version(store.GLOBAL)
    sweep, scan = [], []
    for _ in range(repeats):
        sweep.append(_timed(lambda: store.sweep_versions(store.GLOBAL, keep={live})))
        scan.append(_timed(bare_scan))
    store.delete_prefix()

    def row(name: str, ours: list[float], bare: list[float], bare_name: str) -> str:
        ratio = median(o / b for o, b in zip(ours, bare, strict=True))
        return (
            f"| {name} | {median(ours) * 1000:.1f} | {bare_name} | {median(bare) * 1000:.2f} "
            f"| {ratio:.1f}x |"
        )

    return f"""
{events:,} events to start with; the first `update_interactions` (takes them all from the
queue and folds them in) took {first:.1f} s. Medians of {repeats} alternating runs, milliseconds:

| ours | ms | bare baseline | ms | ratio |
| --- | ---: | --- | ---: | ---: |
{row("`update_interactions`, nothing new", idle, idle_bare,
     "two probes of the (empty) queues")}
{row(f"`update_interactions`, {events // 100:,} new events (1 %)", new, new_bare,
     "the same rows read by primary key and grouped, nothing written")}
{row(f"a publish's version sweep over {keys:,} keys", sweep, scan,
     "one SCAN over the same keys, nothing parsed or deleted")}
"""  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database", default="picks_bench_update")
    args = parser.parse_args()
    url = fresh_database(args.database)
    size = ["--users", str(args.users), "--items", str(args.items), "--events", str(args.events)]
    manage("generate_demo_data", *size, "--no-pictures", database_url=url)
    django_setup(database_url=url, redis_prefix="picks-bench-update")
    table = measure(args.repeats)
    write_section(
        "Update path: incremental aggregation and the publish sweep",
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/update_path.py {" ".join(size)}`.
{table}
The incremental run deletes what it takes from the queue (a trigger filled it when the events
were inserted) in the statement that folds it in; the bare baseline only reads the new rows.""",
    )


if __name__ == "__main__":
    main()
