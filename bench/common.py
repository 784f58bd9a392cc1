"""Shared helpers of the benchmarks: a scratch PostgreSQL database, timed commands, the report."""

import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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
    log: str = ""  # what the job wrote to stderr: its steps, each time-stamped


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
    """Run `manage.py ARGS` in a child process; its wall time and its own peak RSS come back."""
    env = {**os.environ, "DATABASE_URL": database_url, **(extra_env or {})}
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    # GNU time runs the job from its own small process: a child forked straight from this
    # (large) interpreter would report this process's footprint as its floor.
    with tempfile.NamedTemporaryFile("r") as rss:
        start = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        peak_kb = int(rss.read().strip().splitlines()[-1] or 0)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return Timed(seconds, peak_kb / 1024, done.stdout, done.stderr)


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


def django_setup(*, database_url: str, redis_prefix: str = "picks-bench") -> None:
    """Configure Django in this process against a scratch database and a Redis prefix."""
    os.environ["DATABASE_URL"] = database_url
    os.environ["PICKS_REDIS_PREFIX"] = redis_prefix
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def database_exists(name: str) -> bool:
    done = subprocess.run(
        [
            "psql",
            f"{PG_SERVER}/postgres",
            "-tAc",
            f"SELECT 1 FROM pg_database WHERE datname='{name}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip() == "1"


def peak_rss_mb() -> float:
    """This process's peak resident memory so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def production_server(
    *, database_url: str, secret_key: str, extra_env: dict | None = None
) -> Iterator[str]:
    """gunicorn (2 sync workers, production settings, throttles out of the way) on a free
    127.0.0.1 port, until the block ends; its base URL comes back once /api/health/ answers."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        **{f"THROTTLE_{scope}": "100000000/min"
           for scope in ("ANON", "USER", "AUTH", "EVENTS", "LISTS_ANON", "LISTS_USER")},
        **(extra_env or {}),
    }  # fmt: skip
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "--workers", "2",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(60):
            try:
                urllib.request.urlopen(f"{base}/api/health/", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()
