"""Spark (local mode) beside the single-machine engine, through the same commands.

    .venv/bin/python bench/spark_engine.py [--retail PATH] [--groceries PATH]
        [--users 100000 --items 20000 --events 2000000]

1. Online Retail (the whole file, imported): `evaluate --split temporal --days 30 --engine E`
   for both engines, ALS nDCG@10 side by side (target: Spark >= 90 % of implicit), and
   `train_market_basket` on the orders with each engine (same rules, time).
2. Groceries: `train_market_basket --baskets FILE --min-support 0.006 --min-confidence 0.25
   --min-lift 0` with each engine (463 rules each).
3. A synthetic shop (`generate_demo_data`): `train_als_model --force` and
   `train_market_basket` with each engine, alternating: wall time, and the peak RSS GNU time
   reports (the job's Python process; Spark's JVM, a separate process, is not in it).
"""

import argparse
import datetime as dt
import json
import subprocess
from pathlib import Path

from common import PG_SERVER, SHARED_DATA, fresh_database, machine, manage, write_section

ENGINES = ("local", "spark")


def run(*args: str, url: str) -> object:
    return manage(*args, database_url=url, extra_env={"LOG_LEVEL": "ERROR"})


def rules_of(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("rules:"))


def drop(name: str) -> None:
    subprocess.run(
        ["psql", f"{PG_SERVER}/postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--retail", type=Path, default=SHARED_DATA / "online_retail" / "online_retail.csv.gz"
    )
    parser.add_argument(
        "--groceries", type=Path, default=SHARED_DATA / "groceries" / "groceries.csv"
    )
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    args = parser.parse_args()
    for path in (args.retail, args.groceries):
        if not path.is_file():
            raise SystemExit(f"no data at {path}")

    url = fresh_database("picks_bench_spark_retail")
    run("import_orders", str(args.retail.resolve()), url=url)
    quality, retail_rows = {}, []
    for engine in ENGINES:
        timed = run("evaluate", "--split", "temporal", "--days", "30", "--engine", engine,
                    "--json", url=url)  # fmt: skip
        quality[engine] = json.loads(timed.output)["als"]["ndcg@10"]
        mined = run("train_market_basket", "--min-support", "0.01", "--engine", engine, url=url)
        retail_rows.append(
            f"| {engine} | {timed.seconds:.1f} | {quality[engine]:.4f} | {mined.seconds:.1f} "
            f"| {mined.peak_rss_mb:.0f} | {rules_of(mined.output)} |"
        )
    drop("picks_bench_spark_retail")

    url = fresh_database("picks_bench_spark_groceries")
    grocery_rows = []
    for engine in ENGINES:
        mined = run("train_market_basket", "--baskets", str(args.groceries.resolve()),
                    "--min-support", "0.006", "--min-confidence", "0.25", "--min-lift", "0",
                    "--engine", engine, url=url)  # fmt: skip
        rules = rules_of(mined.output)
        grocery_rows.append(
            f"| {engine} | {mined.seconds:.1f} | {mined.peak_rss_mb:.0f} | {rules} |"
        )
    drop("picks_bench_spark_groceries")

    size = ["--users", str(args.users), "--items", str(args.items), "--events", str(args.events)]
    url = fresh_database("picks_bench_spark_shop")
    env = {"LOG_LEVEL": "ERROR", "PICKS_REDIS_PREFIX": "picks-bench-spark"}
    for job in (["generate_demo_data", *size, "--no-pictures"], ["update_interactions"]):
        manage(*job, database_url=url, extra_env=env)
    shop_rows = []
    for round_ in (1, 2):
        for engine in ENGINES:
            for job in (["train_als_model", "--force"], ["train_market_basket"]):
                timed = manage(*job, "--engine", engine, database_url=url, extra_env=env)
                shop_rows.append(
                    f"| {round_} | {engine} | `{job[0]}` | {timed.seconds:.1f} "
                    f"| {timed.peak_rss_mb:.0f} | {timed.output.strip().splitlines()[-1][:90]} |"
                )
                print(shop_rows[-1], flush=True)
    drop("picks_bench_spark_shop")

    write_section(
        "Spark engine beside the single-machine engine",
        f"""
Machine: {machine()}; PostgreSQL 15 on 127.0.0.1; Spark {_spark_version()} in local mode
(`local[*]`, driver memory 2g), Java 17. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/spark_engine.py {" ".join(size)}`. Each command runs in its
own process (wall time includes Python and, for Spark, JVM start-up).

**Online Retail** (whole file imported): `evaluate --split temporal --days 30 --engine E`
(ALS with the defaults, plain) and `train_market_basket --min-support 0.01 --engine E` on the
orders.

| engine | evaluate s | ALS nDCG@10 | FP-Growth s | FP-Growth peak RSS MB | rules |
| --- | ---: | ---: | ---: | ---: | --- |
{chr(10).join(retail_rows)}

Spark ALS / implicit ALS nDCG@10: **{quality["spark"] / quality["local"]:.2f}** (target >= 0.90).

**Groceries** (`--baskets`, support 0.006, confidence 0.25, no lift filter):

| engine | seconds | peak RSS MB | rules |
| --- | ---: | ---: | --- |
{chr(10).join(grocery_rows)}

**Synthetic shop** ({args.users} users, {args.items} items, {args.events} events), alternating:

| round | engine | job | seconds | peak RSS MB | output |
| --- | --- | --- | ---: | ---: | --- |
{chr(10).join(shop_rows)}
""",
    )


def _spark_version() -> str:
    import pyspark

    return pyspark.__version__


if __name__ == "__main__":
    main()
