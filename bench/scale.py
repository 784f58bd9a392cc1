"""Every batch job on a synthetic shop, one child process per job: time and peak memory.

    .venv/bin/python bench/scale.py [--users 100000 --items 20000 --events 2000000]

Then the ALS path against bare implicit on that data, in one process (see bench/als_path.py).
"""

import argparse
import datetime as dt

from als_path import compare
from common import PG_SERVER, django_setup, fresh_database, machine, manage, write_section

JOBS = [
    "update_interactions",
    "publish_catalog",
    "train_als_model",
    "generate_top_buys",
    "generate_global_top_buys",
    "train_market_basket",
    "generate_bought_together",
    "train_mf_model",
    "generate_decks",
    "generate_similar_items",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--database", default="picks_bench_scale")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the database and its demo data from a run"
    )
    args = parser.parse_args()
    size = ["--users", str(args.users), "--items", str(args.items), "--events", str(args.events)]
    env = {"PICKS_REDIS_PREFIX": "picks-bench", "LOG_LEVEL": "WARNING"}
    rows = []
    jobs = [(j, []) for j in JOBS]
    if args.reuse:
        url = f"{PG_SERVER}/{args.database}"
        jobs[0] = ("update_interactions", ["--full"])
    else:
        url = fresh_database(args.database)
        jobs.insert(0, ("generate_demo_data", [*size, "--no-pictures"]))
    for job, job_args in jobs:
        timed = manage(job, *job_args, database_url=url, extra_env=env)
        rows.append(
            f"| `{' '.join([job, *job_args])}` | {timed.seconds:.1f} | {timed.peak_rss_mb:.0f} |"
        )
        print(rows[-1], timed.output.strip().splitlines()[-1:], flush=True)
    django_setup(database_url=url)
    path = compare(f"Synthetic shop ({args.users} users, {args.items} items, {args.events} events)")
    write_section(
        "Scale: synthetic shop end to end",
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/scale.py {" ".join(size)}`
Each job runs as `manage.py JOB` in its own process (wall time includes about 3 s of Python
and library start-up); peak RSS is that process's.

| job | seconds | peak RSS MB |
| --- | ---: | ---: |
{chr(10).join(rows)}

Then, in one process on the same data:
{path}""",
    )


if __name__ == "__main__":
    main()
