"""Fuzz the live API with schemathesis against its own OpenAPI schema (`make fuzz`).

    .venv/bin/python bench/fuzz.py [--examples 50] [--seed 1]

Builds a scratch database with a small demo shop, runs the pipeline into a Redis prefix of
its own, starts gunicorn (production settings, 2 workers) on 127.0.0.1 only, and runs
`st run` three times: as a guest, as a shopper and as a service account (bearer tokens),
each with a fixed number of examples per operation and a fixed seed. Checks: all of
schemathesis' checks except `positive_data_acceptance` (it expects every schema-valid body
to be accepted, which no password-strength or unknown-sku rule can satisfy). The result
goes to docs/fuzz.md, each caller's whole report to var/fuzz/.
"""

import argparse
import datetime as dt
import os
import re
import secrets
import subprocess
import time
from pathlib import Path

from common import (
    PG_SERVER,
    ROOT,
    django_setup,
    fresh_database,
    machine,
    manage,
    production_server,
)

DATABASE = "picks_bench_fuzz"
PREFIX = "picks-fuzz"
REPORT = ROOT / "docs" / "fuzz.md"
LOGS = ROOT / "var" / "fuzz"
CHECKS = ["--checks", "all", "--exclude-checks", "positive_data_acceptance"]


def schemathesis(base: str, examples: int, seed: int, token: str | None, log: Path) -> dict:
    args = [str(ROOT / ".venv/bin/st"), "run", f"{base}/api/schema/", *CHECKS,
            "--max-examples", str(examples), "--seed", str(seed), "--no-color"]  # fmt: skip
    if token:
        args += ["--header", f"Authorization: Bearer {token}"]
    done = subprocess.run(args, capture_output=True, text=True, cwd=log.parent)  # its cache too
    out = done.stdout + done.stderr
    log.write_text(out)  # the whole report, failures with their curl reproductions
    generated = re.search(r"(\d+) generated", out)
    failures = re.search(r"(\d+) unique failures?", out)
    server_errors = re.search(r"ST101 Server error: (\d+)", out)
    return {
        "exit": done.returncode,
        "generated": int(generated.group(1)) if generated else 0,
        "failures": int(failures.group(1)) if failures else 0,
        "server_errors": int(server_errors.group(1)) if server_errors else 0,
        "tail": "\n".join(out.strip().splitlines()[-12:]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=50, help="examples per operation")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    url = fresh_database(DATABASE)
    env = {"PICKS_REDIS_PREFIX": PREFIX, "LOG_LEVEL": "WARNING"}
    manage("generate_demo_data", "--users", "500", "--items", "300", "--events", "20000",
           database_url=url, extra_env=env)  # fmt: skip
    manage("run_pipeline", database_url=url, extra_env=env)
    secret = secrets.token_urlsafe(50)
    os.environ["SECRET_KEY"] = secret  # tokens made here must verify on the server
    django_setup(database_url=url, redis_prefix=PREFIX)
    from accounts.models import User
    from accounts.tokens import PicksRefreshToken
    from recommendations import store

    shopper = User.objects.filter(is_service=False, is_staff=False).first()
    service = User.objects.create(username="fuzz-service", is_service=True)
    tokens = {
        "guest": None,
        "shopper": str(PicksRefreshToken.for_user(shopper).access_token),
        "service account": str(PicksRefreshToken.for_user(service).access_token),
    }
    LOGS.mkdir(parents=True, exist_ok=True)
    results = {}
    try:
        with production_server(database_url=url, secret_key=secret, extra_env=env) as base:
            for name, token in tokens.items():
                started = time.perf_counter()
                log = LOGS / f"{name.replace(' ', '-')}.txt"
                results[name] = schemathesis(base, args.examples, args.seed, token, log)
                results[name]["seconds"] = time.perf_counter() - started
                print(name, results[name])
    finally:
        store.delete_prefix()
        subprocess.run(
            ["psql", f"{PG_SERVER}/postgres", "-qc",
             f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'],
            check=False,
        )  # fmt: skip
    rows = "\n".join(
        f"| {name} | {r['generated']:,} | {r['server_errors']} | {r['failures']} | "
        f"{r['seconds']:.0f} s |"
        for name, r in results.items()
    )
    REPORT.write_text(
        f"""# Fuzzing the API with schemathesis

Machine: {machine()}; gunicorn 2 sync workers, production settings, PostgreSQL 15 and
Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/fuzz.py --examples {args.examples} --seed {args.seed}`
(`make fuzz`). Demo shop of 500 users, 300 items, 20,000 events, pipeline run first.
schemathesis {_st_version()}, phases examples, coverage, fuzzing and stateful, checks
`{" ".join(CHECKS[1:])}`, at most {args.examples} examples per operation.

| caller | test cases | 5xx answers | failures (any check) | time |
| --- | ---: | ---: | ---: | ---: |
{rows}

`positive_data_acceptance` is left out on purpose: it expects every body the schema allows
to be accepted, and a weak or common password, an unknown sku or an item id that does not
exist are schema-valid but refused with a 400 or 404 by design. Every other check runs:
no 5xx, status codes, content types, headers and bodies as documented, schema-violating
input refused, and the stateful checks (links between operations).
"""
    )
    print(REPORT.read_text())
    if any(r["failures"] or r["server_errors"] for r in results.values()):
        raise SystemExit(f"schemathesis found failures: see {LOGS}/")


def _st_version() -> str:
    done = subprocess.run([str(ROOT / ".venv/bin/st"), "--version"], capture_output=True, text=True)
    return done.stdout.strip().split()[-1] if done.stdout else "?"


if __name__ == "__main__":
    main()
