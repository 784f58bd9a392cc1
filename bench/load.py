"""Load test of the list endpoints under gunicorn (production settings) against a bare view.

    .venv/bin/python bench/load.py [--database picks_bench_demo] [--seconds 15]

Uses a database holding the demo shop (bench/mf_swipes.py makes `picks_bench_demo`), runs the
pipeline into a Redis prefix of its own, starts gunicorn (2 sync workers) on 127.0.0.1, and
drives each endpoint with wrk (32 connections, 2 threads) for `--seconds`, then the bare view
(stateless JWT + one Redis GET) with the same server and settings. Needs `wrk` (Debian
package `wrk`).
"""

import argparse
import datetime as dt
import os
import re
import secrets
import shutil
import subprocess
import time
from statistics import median

from common import (
    PG_SERVER,
    ROOT,
    database_exists,
    django_setup,
    machine,
    manage,
    production_server,
    write_section,
)

PREFIX = "picks-load"


def wrk(url: str, seconds: int, token: str | None, client_id: str | None = None) -> dict:
    args = ["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url]
    if token:
        args[1:1] = ["-H", f"Authorization: Bearer {token}"]
    if client_id:
        args[1:1] = ["-H", f"X-Client-Id: {client_id}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50": pct["50"],
        "p99": pct["99"],
        "errors": int(non2xx.group(1)) if non2xx else 0,
    }


def to_ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="picks_bench_demo")
    parser.add_argument("--title", default="Read API under load")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3, help="alternations of all endpoints")
    parser.add_argument(
        "--experiments",
        action="store_true",
        help="also each list endpoint while an A/B experiment runs on its family",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    if not database_exists(args.database):
        raise SystemExit(f"no database {args.database}: run bench/mf_swipes.py first")
    url = f"{PG_SERVER}/{args.database}"
    env = {"PICKS_REDIS_PREFIX": PREFIX, "LOG_LEVEL": "WARNING"}
    manage("migrate", "--noinput", database_url=url)
    manage("run_pipeline", database_url=url, extra_env=env)
    secret = secrets.token_urlsafe(50)
    os.environ["SECRET_KEY"] = secret  # the server must accept the tokens made here
    django_setup(database_url=url, redis_prefix=PREFIX)
    from accounts.models import User
    from accounts.tokens import PicksRefreshToken
    from catalog.models import Item
    from recommendations import store
    from recommendations.models import Interaction, ModelRun
    from recommendations.services.training.model_runs import load_served

    shop = (
        f"{User.objects.count():,} users, {Item.objects.count():,} items, "
        f"{Interaction.objects.count():,} events"
    )
    _, artifact = load_served(ModelRun.Kind.MF)
    user = User.objects.get(pk=int(artifact.users.ids[0]))
    token = str(PicksRefreshToken.for_user(user).access_token)
    product = store.read_page([(store.GLOBAL, store.GLOBAL_TOP_BUYS)], want=1, stored=1).entries[0]
    product = product.item_id
    store.client().set(store.keys.key("bare"), "x" * 200)
    from django.conf import settings

    from recommendations.models import Experiment, Variant
    from recommendations.services import experiments

    def toggle_experiments(*, on: bool) -> None:
        """Two identical default arms on each family: only the experiment's own work differs
        (assignment, the impression counted in the read); servers see it within their cache
        time."""
        for family in ("top_buys", "deck", "bought_together"):
            experiment, made = Experiment.objects.get_or_create(
                name=f"load-{family.replace('_', '-')}", family=family
            )
            if made:
                for i, name in enumerate(("control", "same")):
                    Variant.objects.create(
                        experiment=experiment, name=name, share=50, is_control=i == 0, position=i
                    )
            if on:
                experiments.start(experiment)
            elif experiment.status == Experiment.Status.RUNNING:
                experiments.stop(experiment)
        time.sleep(settings.PICKS_EXPERIMENT_CACHE_SECONDS + 1)

    try:
        with production_server(
            database_url=url,
            secret_key=secret,
            extra_env={**env, "ROOT_URLCONF": "bench_urls", "PYTHONPATH": f"{ROOT / 'bench'}"},
        ) as base:
            targets = [
                ("bare DRF view: stateless JWT + one Redis GET", "/bench/bare/", token),
                (
                    "bare DRF view past the session/auth/CSRF middleware, as the lists are",
                    "/bench/bare-stateless/",
                    token,
                ),
                ("plain Django view: one Redis GET, no DRF, no token", "/bench/plain/", None),
                ("top-buys (JWT)", "/api/recommendations/top-buys/", token),
                (
                    "bought-together (guest)",
                    f"/api/recommendations/bought-together/{product}/",
                    None,
                ),
                ("deck (JWT)", "/api/recommendations/deck/", token),
            ]
            plain = [(name, path, auth, None) for name, path, auth in targets]
            tested = [
                (f"{name}, experiment running", path, auth, "load-client-0001")
                for name, path, auth in targets[3:]
            ]
            runs: dict[str, list[dict]] = {t[0]: [] for t in plain + tested}
            for _ in range(args.rounds):  # alternate, so drift hits every row alike
                for group, running in ((plain, False), (tested, True)):
                    if running and not args.experiments:
                        continue
                    if args.experiments:
                        toggle_experiments(on=running)
                    for name, path, auth, client_id in group:
                        wrk(base + path, 2, auth, client_id)  # warm-up
                        runs[name].append(wrk(base + path, args.seconds, auth, client_id))
    finally:
        if args.experiments:
            Experiment.objects.filter(name__startswith="load-").delete()
        store.delete_prefix()

    def med(name: str, field: str) -> float:
        values = [r[field] if field == "rps" else to_ms(r[field]) for r in runs[name]]
        return median(values)

    def row(name: str) -> str:
        rounds = " / ".join(f"{r['rps']:,.0f}" for r in runs[name])
        errors = sum(r["errors"] for r in runs[name])
        return (
            f"| {name} | {med(name, 'rps'):,.0f} | {med(name, 'p50'):.1f} ms "
            f"| {med(name, 'p99'):.1f} ms | {med(name, 'rps') / med(bare, 'rps'):.2f} "
            f"| {med(name, 'p99') / med(bare, 'p99'):.2f} | {rounds} | {errors} |"
        )

    bare = targets[0][0]
    flag = " --experiments" if args.experiments else ""
    rows = "\n".join(row(name) for name in runs if runs[name])
    write_section(
        args.title,
        f"""
Machine: {machine()}; gunicorn 2 sync workers, production settings, PostgreSQL 15 and Redis 7,
wrk on the same 2 cores (-t2 -c32, {args.seconds} s per endpoint after a 2 s warm-up); the
endpoints alternate for {args.rounds} rounds and each figure is the median of its rounds.
Date: {dt.date.today()}.
Command: `.venv/bin/python bench/load.py --database {args.database} --seconds {args.seconds} \
--rounds {args.rounds}{flag}` (database {args.database}: {shop}; lists of 20 with item cards).

| endpoint | req/s | p50 | p99 | throughput vs bare | p99 vs bare | req/s per round | non-2xx |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{rows}

Target: each list endpoint at least as fast as the bare DRF view (1.0x throughput, p99 at
most the bare view's; resolved at 0.9x and 1.2x). The list endpoints are stateless views: they
skip the session, auth, message and CSRF middleware (config.middleware.StatelessViewMiddleware),
which the bare view goes through; the row "past the session/auth/CSRF middleware" is the bare
view taking the same short way. The plain Django view shows the framework's floor. Rows "experiment
running" (with --experiments): the same endpoint while an A/B experiment of two identical
default arms runs on its family (the guest sends an X-Client-Id); target within 5 % of the
row without.
""",
    )


if __name__ == "__main__":
    main()
