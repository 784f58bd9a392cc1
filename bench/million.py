"""The synthetic shop at 1M users x 100k items x 20M events, end to end on PostgreSQL and Redis:
every job's time and peak memory for the first full build, then for a steady-state run (1 % new
events since the last run, incremental aggregation, then train and precompute everything), and
the Redis memory of each published version.

    .venv/bin/python bench/million.py generate   # once: scratch database + demo data
    .venv/bin/python bench/million.py first      # the first full build
    .venv/bin/python bench/million.py steady     # 1 % new events, then the steady-state run
    .venv/bin/python bench/million.py report     # write docs/benchmarks.md from the runs
    .venv/bin/python bench/million.py spark      # after generate: ALS, top buys, FP-Growth and
                                                 # bought together with --engine local, then
                                                 # spark (local mode), written to the docs

Smaller shops for a rehearsal: --users/--items/--events (and another --database).
Each job runs as `manage.py JOB` in its own process (GNU time's peak RSS of that process).
"""

import argparse
import datetime as dt
import json
import os
import re
import subprocess
from pathlib import Path

from common import PG_SERVER, ROOT, fresh_database, machine, manage, write_section

JOBS = [
    ("update_interactions", []),
    ("publish_catalog", []),
    ("train_als_model", []),
    ("generate_top_buys", []),
    ("generate_global_top_buys", []),
    ("train_market_basket", []),
    ("generate_bought_together", []),
    ("train_mf_model", []),
    ("generate_decks", []),
    ("generate_similar_items", []),
]
# The jobs with a Spark engine, as `million.py spark` runs them with each engine.
SPARK_JOBS = [
    ("train_als_model", ["--force", "--cold"]),  # Spark never starts warm: neither does local
    ("generate_top_buys", []),
    ("train_market_basket", []),
    ("generate_bought_together", []),
]
SPARK_MEMORY = "8g"  # local mode: the driver JVM holds the executors too
FAMILIES = ("top_buys", "deck", "similar", "bought_together", "global", "mf")
RESULTS = ROOT / "var" / "bench-million"


def _redis(*args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def redis_used_mb() -> float:
    info = dict(line.split(":", 1) for line in _redis("INFO", "memory").splitlines() if ":" in line)
    return int(info["used_memory"]) / 2**20


def version_memory(prefix: str, sample: int = 2000) -> dict[str, dict]:
    """Per family's live version: its keys and their memory (MEMORY USAGE summed over a sample
    of the version's keys, scaled to all of them)."""
    out = {}
    for family in FAMILIES:
        live = _redis("GET", f"{prefix}:live:{family}")
        if not live:
            continue
        pattern = f"{prefix}:v{live}:*"
        keys = _redis("--scan", "--pattern", pattern).splitlines()
        picked = keys[:: max(len(keys) // sample, 1)][:sample]
        used = sum(int(_redis("MEMORY", "USAGE", k) or 0) for k in picked)
        per_key = used / max(len(picked), 1)
        meta = json.loads(_redis("GET", f"{prefix}:meta:{family}:{live}") or "{}")
        out[family] = {
            "method": meta.get("method", ""),
            "recall": meta.get("recall"),
            "probes": meta.get("probes"),
            "version": int(live),
            "keys": len(keys),
            "mb": per_key * len(keys) / 2**20,
            "bytes_per_key": per_key,
        }
    return out


def run_jobs(
    url: str, env: dict, jobs: list, rows: list[dict], save, *, logs: Path | None = None
) -> list[dict]:
    """Run the jobs not in `rows` yet (a run that stopped resumes), saving after each; each
    job's own log (its time-stamped steps) goes to `logs`/JOB.log."""
    done = {r["job"] for r in rows}
    for job, job_args in jobs:
        if " ".join([job, *job_args]) in done:
            continue
        before = redis_used_mb()
        timed = manage(job, *job_args, database_url=url, extra_env=env)
        if logs is not None:
            logs.mkdir(parents=True, exist_ok=True)
            (logs / f"{job}.log").write_text(timed.log)
        rows.append(
            {
                "job": " ".join([job, *job_args]),
                "seconds": timed.seconds,
                "peak_rss_mb": timed.peak_rss_mb,
                "redis_mb_before": before,
                "redis_mb_after": redis_used_mb(),
                "last_line": (timed.output.strip().splitlines() or [""])[-1],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        save()
    return rows


def add_new_events(url: str, share: float) -> int:
    """`share` of the events again, as new events received now (same users, items and kinds:
    the planted structure stays)."""
    sql = (
        "INSERT INTO recommendations_interaction "
        "(user_id, item_id, kind, occurred_at, received_at) "
        "SELECT user_id, item_id, kind, now() - random() * interval '1 hour', now() "
        f"FROM recommendations_interaction TABLESAMPLE BERNOULLI ({share * 100}) "
        "REPEATABLE (7)"
    )
    done = subprocess.run(["psql", url, "-tAc", sql], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1])  # "INSERT 0 N"


def counts(url: str) -> dict[str, int]:
    out = {}
    for name, table in (
        ("users", "accounts_user"),
        ("items", "catalog_item"),
        ("events", "recommendations_interaction"),
        ("orders", "recommendations_order"),
        ("order lines", "recommendations_orderline"),
    ):
        done = subprocess.run(
            ["psql", url, "-qtAc", f"SELECT count(*) FROM {table}"],
            capture_output=True,
            text=True,
            check=True,
        )
        out[name] = int(done.stdout.strip())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("phase", choices=["generate", "first", "steady", "report", "spark"])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--database", default="picks_bench_million")
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument(
        "--round", type=int, default=1,
        help="steady phase: which steady-state run (2: the next one, which also deletes the "
        "versions the first build published)",
    )  # fmt: skip
    parser.add_argument(
        "--spark-jobs", default=",".join(job for job, _ in SPARK_JOBS),
        help="spark phase: which of its jobs to run with each engine (comma-separated)",
    )  # fmt: skip
    args = parser.parse_args()
    url = f"{PG_SERVER}/{args.database}"
    prefix = f"picks-bench-{args.database}"
    env = {"PICKS_REDIS_PREFIX": prefix, "LOG_LEVEL": "INFO"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = RESULTS / f"{args.database}.json"
    state = json.loads(results.read_text()) if results.exists() else {}
    size = ["--users", str(args.users), "--items", str(args.items), "--events", str(args.events)]
    if args.phase == "generate":
        _redis("EVAL", "for _,k in ipairs(redis.call('KEYS', ARGV[1])) do "
               "redis.call('UNLINK', k) end", "0", f"{prefix}:*")  # fmt: skip
        url = fresh_database(args.database)
        timed = manage(
            "generate_demo_data", *size, "--no-pictures", database_url=url, extra_env=env
        )
        subprocess.run(["psql", url, "-qc", "VACUUM ANALYZE"], check=True)
        state = {"size": size, "generate": {"seconds": timed.seconds, "rss": timed.peak_rss_mb},
                 "counts": counts(url)}  # fmt: skip

    def save() -> None:
        results.write_text(json.dumps(state, indent=1))

    if args.phase == "generate":
        pass
    elif args.phase == "first":
        state.setdefault("first", [])
        run_jobs(
            url, env, [("update_interactions", ["--full"]), *JOBS[1:]], state["first"], save,
            logs=RESULTS / f"{args.database}-first",
        )  # fmt: skip
        state["first_memory"] = version_memory(prefix)
        state["first_redis_mb"] = redis_used_mb()
    elif args.phase == "steady":
        name = "steady" if args.round == 1 else f"steady{args.round}"
        if f"{name}_new_events" not in state:
            state[f"{name}_new_events"] = add_new_events(url, args.new_share)
            state[name] = []
            save()
        run_jobs(url, env, JOBS, state[name], save, logs=RESULTS / f"{args.database}-{name}")
        state[f"{name}_memory"] = version_memory(prefix)
        state[f"{name}_redis_mb"] = redis_used_mb()
        state["counts_after"] = counts(url)
    elif args.phase == "spark":
        state.setdefault("spark", [])
        prepare = [("update_interactions", ["--full"]), ("publish_catalog", [])]
        if "first" not in state:
            run_jobs(url, env, prepare, state["spark"], save)
        wanted = args.spark_jobs.split(",")
        jobs = [
            (job, [*extra, "--engine", engine])
            for engine in ("local", "spark")
            for job, extra in SPARK_JOBS
            if job in wanted
        ]
        spark_env = {**env, "SPARK_DRIVER_MEMORY": SPARK_MEMORY}
        run_jobs(url, spark_env, jobs, state["spark"], save)
        state["machine"] = machine()
        spark_report(state, args)
    else:
        report(state, args)
    state["machine"] = machine()
    results.write_text(json.dumps(state, indent=1))
    print(json.dumps({k: v for k, v in state.items() if k in ("counts", "generate")}))


def _table(rows: list[dict]) -> str:
    lines = [
        "| job | seconds | peak RSS MB | Redis used MB after |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        note = f" ({r['note']})" if r.get("note") else ""
        lines.append(
            f"| `{r['job']}`{note} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} "
            f"| {r['redis_mb_after']:.0f} |"
        )
    total = sum(r["seconds"] for r in rows)
    lines.append(f"| **all jobs** | **{total:.1f}** ({total / 60:.1f} min) | "
                 f"**{max(r['peak_rss_mb'] for r in rows):.0f}** (largest) | |")  # fmt: skip
    return "\n".join(lines)


def _memory(memory: dict) -> str:
    lines = [
        "| list family | keys | MB (sampled) | bytes per key | lists found by | lists probed "
        "| recall vs exact |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for family, m in memory.items():
        recall = "" if m.get("recall") is None else f"{m['recall']:.3f}"
        lines.append(
            f"| {family} | {m['keys']:,} | {m['mb']:.0f} | {m['bytes_per_key']:.0f} "
            f"| {m.get('method') or '-'} | {m.get('probes') or ''} | {recall} |"
        )
    return "\n".join(lines)


def report(state: dict, args: argparse.Namespace) -> None:
    size = " ".join(state["size"])
    c = state["counts"]
    write_section(
        f"Scale: {args.users:,} users x {args.items:,} items x {args.events:,} events (measured)",
        f"""
Machine: {state.get("machine", machine())}; PostgreSQL 15 and Redis 7 on 127.0.0.1.
Date: {dt.date.today()}. Commands: `.venv/bin/python bench/million.py generate|first|steady|report
{size}` (data: `generate_demo_data {size} --no-pictures`, {state["generate"]["seconds"] / 60:.0f}
min). Rows: {c["users"]:,} users, {c["items"]:,} items, {c["events"]:,} events, {c["orders"]:,}
orders, {c["order lines"]:,} order lines. Each job runs as `manage.py JOB` in its own process
(wall time includes Python and library start-up); peak RSS is that process's (GNU time).

First full build (aggregates rebuilt from every event):

{_table(state["first"])}

Steady state: {state["steady_new_events"]:,} new events
({state["steady_new_events"] / c["events"]:.1%}) since the build, received now; then the cron
order (incremental aggregation, then train and precompute everything):

{_table(state["steady"])}

Redis memory of the live version of each list family after the steady-state run
(MEMORY USAGE over a sample of 2,000 of the version's keys, scaled; Redis `used_memory`
{state["steady_redis_mb"]:,.0f} MB in all, which also holds the previous version of each
family for rollback, the item cards and the seen sets):

{_memory(state["steady_memory"])}

{_next_rounds(state)}

{chr(10).join("- " + note for note in state.get("notes", []))}
""",
    )


def _next_rounds(state: dict) -> str:
    """The steady-state runs after the first (`steady --round N`), if any."""
    out = []
    rounds = sorted(int(k[len("steady") :]) for k in state if re.fullmatch(r"steady\d+", k))
    for round_ in rounds:
        name = f"steady{round_}"
        out.append(
            f"Steady state, run {round_}: {state[f'{name}_new_events']:,} more new events, then "
            "the cron order again; each publish now also deletes the version before the "
            f"previous one:\n\n{_table(state[name])}\n"
        )
    return "\n".join(out)


def spark_report(state: dict, args: argparse.Namespace) -> None:
    rows = {r["job"]: r for r in state["spark"]}
    lines = [
        "| job | local s | spark s | spark / local | local peak RSS MB | spark peak RSS MB "
        "| spark output |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for job, extra in SPARK_JOBS:
        local = rows.get(" ".join([job, *extra, "--engine", "local"]))
        spark = rows.get(" ".join([job, *extra, "--engine", "spark"]))
        if local is None or spark is None:
            continue
        lines.append(
            f"| `{job}` | {local['seconds']:.1f} | {spark['seconds']:.1f} "
            f"| {spark['seconds'] / local['seconds']:.2f} | {local['peak_rss_mb']:.0f} "
            f"| {spark['peak_rss_mb']:.0f} | {spark['last_line'][:80]} |"
        )
    c = state["counts"]
    write_section(
        f"Spark engine at {args.users:,} users (local mode, beside the single machine)",
        f"""
Machine: {state["machine"]}; PostgreSQL 15 and Redis 7 on 127.0.0.1; Spark in local mode
(`local[*]`, driver memory {SPARK_MEMORY}: in local mode the driver JVM holds the executors).
Date: {dt.date.today()}. Command: `.venv/bin/python bench/million.py generate|spark
{" ".join(state["size"])} --database {args.database}` ({c["users"]:,} users, {c["items"]:,} items,
{c["events"]:,} events, {c["orders"]:,} orders). Each job runs as `manage.py JOB --engine E`
in its own process, the local engine first, then Spark; peak RSS is the job's Python process
(GNU time), which for Spark does not include the JVM.

{chr(10).join(lines)}
""",
    )


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()
