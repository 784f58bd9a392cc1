"""Shared helpers of the benchmarks: a scratch PostgreSQL database, timed commands, the report."""

import os
import platform
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Benchmarks import the project's pure ml/ modules directly.
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data"
REPORT = ROOT / "docs" / "benchmarks.md"
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres://postgres@127.0.0.1:5432")


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_rss_mb: float
    output: str


def machine() -> str:
    """One line naming the machine the figures come from."""
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as info:
        names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    name = names[0] if names else cpu
    return f"{name}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, Python {platform.python_version()}"


def fresh_database(name: str) -> str:
    """Drop and recreate a scratch database, migrate it, and return its URL."""
    for sql in (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", f"{PG_SERVER}/postgres", "-qc", sql], check=True)
    url = f"{PG_SERVER}/{name}"
    manage("migrate", "--noinput", database_url=url)
    return url


def manage(*args: str, database_url: str, extra_env: dict | None = None) -> Timed:
    """Run `manage.py ARGS` in a child process; wall time and that child's peak RSS come back."""
    env = {**os.environ, "DATABASE_URL": database_url, **(extra_env or {})}
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: only a new maximum is this child's.
    return Timed(seconds, max(peak, before) / 1024, done.stdout)


def write_section(title: str, body: str) -> None:
    """Replace (or append) the `## title` section of docs/benchmarks.md."""
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = (
        pattern.sub(lambda _: section + "\n", text)
        if pattern.search(text)
        else f"{text.rstrip()}\n\n{section}"
    )
    REPORT.write_text(text.rstrip() + "\n")
    print(section)
