"""Answer time of every staff dashboard page on a large synthetic shop.

    .venv/bin/python bench/dashboard.py [--database picks_bench_dash] [--rebuild]

The shop (100k users x 20k items x 2M events by default) is made once with
`generate_demo_data` and the pipeline run twice (two runs of every model, a previous version
of every list); later runs reuse the database unless --rebuild. Each page is requested
`--repeat` times through Django's whole stack (middleware, admin login, templates) in this
process, alternating pages; the admin's own index page, in the same run, is the baseline.
"""

import argparse
import datetime as dt
import time
from statistics import median

from common import (
    PG_SERVER,
    database_exists,
    django_setup,
    fresh_database,
    machine,
    manage,
    write_section,
)

PREFIX = "picks-dash"


def build(url: str, *, users: int, items: int, events: int) -> list[str]:
    env = {"PICKS_REDIS_PREFIX": PREFIX, "LOG_LEVEL": "WARNING"}
    made = manage(
        "generate_demo_data", f"--users={users}", f"--items={items}", f"--events={events}",
        database_url=url, extra_env=env,
    )  # fmt: skip
    runs = [manage("run_pipeline", database_url=url, extra_env=env) for _ in range(2)]
    return [f"generate_demo_data {made.seconds:.0f} s"] + [
        f"run_pipeline {r.seconds:.0f} s" for r in runs
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="picks_bench_dash")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    url = f"{PG_SERVER}/{args.database}"
    built = []
    if args.rebuild or not database_exists(args.database):
        fresh_database(args.database)
        built = build(url, users=args.users, items=args.items, events=args.events)
    else:
        manage("migrate", "--noinput", database_url=url)
    django_setup(database_url=url, redis_prefix=PREFIX)
    from django.conf import settings
    from django.test import Client

    from accounts.models import User
    from recommendations.models import Interaction, JobRun, ModelRun

    settings.ALLOWED_HOSTS = ["testserver"]
    staff, _ = User.objects.get_or_create(
        username="bench-staff", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(staff)
    someone = User.objects.filter(is_staff=False).order_by("pk").values_list("pk", flat=True)[42]
    pages = [
        ("admin index (baseline)", "/admin/"),
        ("overview", "/admin/dashboard/"),
        ("pipeline", "/admin/dashboard/pipeline/"),
        ("models", "/admin/dashboard/models/"),
        ("served lists", "/admin/dashboard/lists/"),
        ("one user's view", f"/admin/dashboard/user/?q={someone}"),
        ("rollback confirmation", "/admin/dashboard/lists/top_buys/rollback/"),
    ]
    from django.core.cache import cache

    for _, path in pages:  # warm: templates, fonts, connections
        assert client.get(path).status_code == 200, path
    times: dict[str, list[float]] = {name: [] for name, _ in pages}
    cold = "overview, cold (the earlier days' aggregate not cached)"
    times[cold] = []
    for _ in range(args.repeat):
        cache.delete_pattern("*dashboard:events-per-day*")
        started = time.perf_counter()
        assert client.get("/admin/dashboard/").status_code == 200
        times[cold].append((time.perf_counter() - started) * 1000)
    for _ in range(args.repeat):
        for name, path in pages:
            started = time.perf_counter()
            response = client.get(path)
            times[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, path
    base = median(times[pages[0][0]])
    rows = "\n".join(
        f"| {name} | {median(t):,.0f} | {max(t):,.0f} | {median(t) / base:.1f} |"
        for name, t in times.items()
    )
    shop = (
        f"{User.objects.count():,} users, {Interaction.objects.count():,} events, "
        f"{ModelRun.objects.count()} model runs, {JobRun.objects.count()} job runs"
    )
    slowest = max(median(t) for name, t in times.items() if name != pages[0][0])
    write_section(
        "Staff dashboard pages",
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/dashboard.py --database {args.database}` (database
{args.database}: {shop}{"; built now: " + ", ".join(built) if built else ""}).

Each page {args.repeat} times through the whole Django stack (a logged-in superuser), pages
alternating; milliseconds. Baseline: the admin's own index page in the same run. The
overview keeps the 90-day event aggregate of the days before today for 10 minutes (today's
events are counted live through the index on `occurred_at`); the cold row drops it before
each request.

| page | median ms | max ms | x admin index |
| --- | ---: | ---: | ---: |
{rows}

Goal: every page within 1 s on the 100k-user shop; slowest median {slowest:,.0f} ms.
""",
    )
    print(rows)


if __name__ == "__main__":
    main()
