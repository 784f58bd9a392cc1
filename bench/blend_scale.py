"""What a blended top-buys model costs at 100k users: `train_als_model` and `generate_top_buys`
with plain ALS and with a blend, alternating on one synthetic shop.

    .venv/bin/python bench/blend_scale.py [--users 100000 --items 20000 --events 2000000]
        [--blend "--item-weight 0.25 --trend-weight 0.5 --trend-days 7 --half-life-days 30"]

The default blend is the one tuning chose on Online Retail (docs/benchmarks.md, "Top buys on
Online Retail"). Each command runs in its own process; `--force` publishes every run, so each
`generate_top_buys` serves the model trained just before it.
"""

import argparse
import datetime as dt
import shlex
import statistics
import subprocess

from common import PG_SERVER, fresh_database, machine, manage, write_section

PREFIX = "picks-bench-blend"
DEFAULT_BLEND = "--item-weight 0.25 --trend-weight 0.5 --trend-days 7 --half-life-days 30"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--database", default="picks_bench_blend")
    parser.add_argument("--blend", default=DEFAULT_BLEND)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    size = ["--users", str(args.users), "--items", str(args.items), "--events", str(args.events)]
    env = {"PICKS_REDIS_PREFIX": PREFIX, "LOG_LEVEL": "WARNING"}
    url = fresh_database(args.database)
    for job in (["generate_demo_data", *size, "--no-pictures"], ["update_interactions"],
                ["publish_catalog"]):  # fmt: skip
        manage(*job, database_url=url, extra_env=env)
    variants = {"plain ALS": [], f"blend ({args.blend})": shlex.split(args.blend)}
    times: dict[str, dict[str, list]] = {v: {"train": [], "top": []} for v in variants}
    for _ in range(args.rounds):
        for name, flags in variants.items():
            trained = manage("train_als_model", "--force", *flags, database_url=url, extra_env=env)
            top = manage("generate_top_buys", database_url=url, extra_env=env)
            times[name]["train"].append(trained)
            times[name]["top"].append(top)
            print(name, f"{trained.seconds:.1f}", f"{top.seconds:.1f}", trained.output.strip())
    subprocess.run(
        f"redis-cli --scan --pattern '{PREFIX}*' | xargs -r -n 500 redis-cli del > /dev/null",
        shell=True, check=True,
    )  # fmt: skip
    subprocess.run(
        ["psql", f"{PG_SERVER}/postgres", "-qc",
         f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'], check=True,
    )  # fmt: skip
    plain, mixed = (times[name] for name in variants)
    rows = []
    for name, t in times.items():
        for step, label in (("train", "train_als_model"), ("top", "generate_top_buys")):
            seconds = ", ".join(f"{x.seconds:.1f}" for x in t[step])
            peak = max(x.peak_rss_mb for x in t[step])
            rows.append(f"| {name} | `{label}` | {seconds} | {peak:.0f} |")

    def ratio(step: str) -> float:
        return statistics.median(x.seconds for x in mixed[step]) / statistics.median(
            x.seconds for x in plain[step]
        )

    write_section(
        "Top buys: the cost of a blend at 100k users",
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/blend_scale.py {" ".join(size)}`
(synthetic shop from `generate_demo_data`; each command in its own process, including about
3 s of start-up; the two models alternate, {args.rounds} rounds).

| model | job | seconds per round | peak RSS MB |
| --- | --- | ---: | ---: |
{chr(10).join(rows)}

Median blend / plain ALS: training **{ratio("train"):.2f}x** (target <= 1.5x), every user's top
buys {ratio("top"):.2f}x.
""",
    )


if __name__ == "__main__":
    main()
