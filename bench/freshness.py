"""Freshness: how soon a swipe reaches the deck under load, what a refresh costs, and how good
folded-in decks are against no refresh and a full retrain.

    .venv/bin/python bench/freshness.py [--users 100000 --items 20000 --events 2000000]
                                        [--rates 50,200] [--seconds 30] [--reuse]

Builds the synthetic shop in a scratch database and runs the batch pipeline (or, `--reuse`,
keeps both from an earlier run). Then:
1. Quality: cohorts of new users, none in training, each of one planted taste group, post
   their first k = 1, 3, 5, 10 likes through the API (gunicorn, production settings); their
   next 10 deck entries are scored for the share of their group and for hits on 30 planted
   likes they did not post, as served today without a refresh (onboarding deck), after the
   refresher, and after a full retrain (train_mf_model --force, generate_decks) that includes
   their likes: the upper bound.
2. Cost: the refresher's passes over those cohorts: users per second, ms per user, and the
   Redis bytes one refresh writes.
3. Latency: the refresher runs as `manage.py refresh_users` beside gunicorn on the same cores;
   a service account posts likes of trained users at a steady rate; the time from each 201 to
   the moment the user's lists are rewritten by a refresh that read the swipe (the refresher
   marks each user with the time its read began) gives p50/p95/p99.
"""

import argparse
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from common import (
    PG_SERVER,
    ROOT,
    django_setup,
    fresh_database,
    machine,
    manage,
    production_server,
    write_section,
)

PREFIX = "picks-bench-fresh"
KS = (1, 3, 5, 10)
PLANTED_LIKES = 30


def post(base: str, token: str, path: str, body: object) -> float:
    """POST JSON; the wall time (Unix seconds) the 201 arrived."""
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201, response.status
    return time.time()


def get(base: str, token: str, path: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    p50, p95, p99 = np.percentile(values, [50, 95, 99]) * 1000
    return f"{p50:.0f} / {p95:.0f} / {p99:.0f}"


class Shop:
    """The demo shop as planted: item database ids per group, and their popularity ranks."""

    def __init__(self, users: int, items: int, events: int, groups: int) -> None:
        from catalog.models import Item
        from recommendations.ml.synthetic import ShopSpec, make_shop
        from recommendations.services.demo import DEMO_SKU_PREFIX

        self.spec = ShopSpec(users=users, items=items, events=events, groups=groups)
        self.shop = make_shop(self.spec)
        self.item_ids = np.array(
            Item.objects.filter(sku__startswith=DEMO_SKU_PREFIX)
            .order_by("sku")
            .values_list("pk", flat=True)
        )

    def planted_likes(self, group: int, rng: np.random.Generator) -> list[int]:
        """Likes a user of `group` would give, popular ones likelier (the generator's Zipf)."""
        own = np.flatnonzero(self.shop.item_group == group)
        weights = 1.0 / (self.shop.item_rank[own] + 1) ** 0.9
        picked = rng.choice(own, PLANTED_LIKES, replace=False, p=weights / weights.sum())
        return self.item_ids[picked].tolist()

    def group_of(self, item_ids: list[int]) -> np.ndarray:
        index = {pk: i for i, pk in enumerate(self.item_ids.tolist())}
        return np.array([self.shop.item_group[index[i]] if i in index else -1 for i in item_ids])


def deck_scores(base: str, tokens: dict, cohort: dict, shop: Shop) -> tuple[float, float]:
    """Mean share of the user's group in their next 10 deck entries, and the share of users
    with a planted, unposted like among them."""
    shares, hits = [], []
    for user_id, (group, likes, k) in cohort.items():
        deck = get(base, tokens[user_id], "/api/recommendations/deck/?limit=10")
        ids = [r["item"]["id"] for r in deck["results"]]
        shares.append(float(np.mean(shop.group_of(ids) == group)) if ids else 0.0)
        hits.append(bool(set(ids) & set(likes[k:])))
    return float(np.mean(shares)), float(np.mean(hits))


def quality(base: str, service_token: str, shop: Shop, *, cohort_size: int, db: str) -> dict:
    from accounts.models import User
    from accounts.tokens import PicksRefreshToken
    from recommendations.services import freshness

    rng = np.random.default_rng(11)
    cohorts: dict[int, dict] = {k: {} for k in KS}
    tokens = {}
    for k in KS:
        for n in range(cohort_size):
            user = User.objects.create(username=f"fresh-bench-{k}-{n}-{secrets.token_hex(4)}")
            group = int(rng.integers(shop.spec.groups))
            cohorts[k][user.pk] = (group, shop.planted_likes(group, rng), k)
            tokens[user.pk] = str(PicksRefreshToken.for_user(user).access_token)
    for k in KS:
        for user_id, (_, likes, _) in cohorts[k].items():
            events = [{"item": i, "kind": "like", "user": user_id} for i in likes[:k]]
            post(base, service_token, "/api/interactions/", events)
    out: dict = {"today": {}, "fresh": {}, "retrain": {}}
    for k in KS:
        out["today"][k] = deck_scores(base, tokens, cohorts[k], shop)
    models = freshness.load_models()
    start, refreshed, passes = time.perf_counter(), 0, []
    while True:
        t0 = time.perf_counter()
        done = freshness.claim_and_refresh(models=models, prefer=set(), limit=50)
        if not done:
            break
        passes.append((time.perf_counter() - t0, done))
        refreshed += done
    seconds = time.perf_counter() - start
    for k in KS:
        out["fresh"][k] = deck_scores(base, tokens, cohorts[k], shop)
    from recommendations import store

    user_id = next(iter(cohorts[5]))
    sizes = [
        store.client().strlen(store.keys.list_key(store.live_version(f), f, o))
        for f, o in (
            (store.TOP_BUYS, user_id),
            (store.DECK, user_id),
            (store.MF, ("user", user_id)),
        )
    ]
    out["cost"] = {
        "users": refreshed,
        "seconds": seconds,
        "per_user_ms": 1000 * sum(s for s, _ in passes) / max(refreshed, 1),
        "bytes": sizes,
    }
    env = {"PICKS_REDIS_PREFIX": PREFIX, "LOG_LEVEL": "WARNING"}
    url = f"{PG_SERVER}/{db}"
    manage("update_interactions", database_url=url, extra_env=env)
    retrain = manage("train_mf_model", "--force", database_url=url, extra_env=env)
    decks = manage("generate_decks", database_url=url, extra_env=env)
    out["retrain_seconds"] = retrain.seconds + decks.seconds
    for k in KS:
        out["retrain"][k] = deck_scores(base, tokens, cohorts[k], shop)
    return out


def latency(
    base: str, service_token: str, *, rate: int, seconds: int, user_ids: list[int], items: list
) -> dict:
    """Swipes at `rate` per second for `seconds`; latencies from 201 to a refresh that read it."""
    from recommendations import store

    rng = np.random.default_rng(rate)
    count = rate * seconds
    users = rng.choice(user_ids, count)
    chosen = rng.choice(items, count)
    start = time.time() + 0.5
    posted: dict[int, list[float]] = {}
    lock = threading.Lock()
    late = [0]

    def send(n: int) -> None:
        wait = start + n / rate - time.time()
        if wait > 0:
            time.sleep(wait)
        else:
            late[0] += 1
        sent = time.time()
        at = post(base, service_token, "/api/interactions/",
                  {"item": int(chosen[n]), "kind": "like", "user": int(users[n])})  # fmt: skip
        with lock:
            posted.setdefault(int(users[n]), []).append((sent, at))

    latencies: list[float] = []
    done = threading.Event()

    def watch() -> None:
        redis = store.client()
        while True:
            with lock:
                waiting = {u: ts for u, ts in posted.items() if ts}
            if not waiting and done.is_set():
                return
            names = list(waiting)
            if names:
                scores = redis.zmscore(store.keys.refreshed(), names)
                now = time.time()
                with lock:
                    for user, score in zip(names, scores, strict=True):
                        if score is None:
                            continue
                        # A refresh whose read began after the request left: the notice is
                        # sent on commit, so a refresh may even begin before the 201 arrives
                        # (latency 0).
                        reached = [(s, t) for s, t in posted[user] if s <= score]
                        latencies.extend(max(now - t, 0.0) for _, t in reached)
                        posted[user] = [(s, t) for s, t in posted[user] if s > score]
            if done.is_set() and time.time() > start + seconds + 60:
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(max_workers=max(8, rate // 5)) as pool:
        list(pool.map(send, range(count)))
    sent_for = time.time() - start
    done.set()
    watcher.join()
    missing = sum(len(v) for v in posted.values())
    return {
        "rate": rate,
        "achieved": count / sent_for,
        "latencies": latencies,
        "missing": missing,
        "late_sends": late[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--rates", default="50,200")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--cohort", type=int, default=100, help="new users per k")
    parser.add_argument("--database", default="picks_bench_fresh")
    parser.add_argument("--reuse", action="store_true", help="keep the shop and its models")
    args = parser.parse_args()
    size = ["--users", str(args.users), "--items", str(args.items), "--events", str(args.events),
            "--groups", str(args.groups)]  # fmt: skip
    env = {"PICKS_REDIS_PREFIX": PREFIX, "LOG_LEVEL": "WARNING"}
    build = []
    if args.reuse:
        url = f"{PG_SERVER}/{args.database}"
    else:
        url = fresh_database(args.database)
        for job in (["generate_demo_data", *size, "--no-pictures"], ["run_pipeline"]):
            timed = manage(*job, database_url=url, extra_env=env)
            build.append(f"`{' '.join(job)}` {timed.seconds:.0f} s")
            print(build[-1], flush=True)
    secret = secrets.token_urlsafe(48)
    os.environ["SECRET_KEY"] = secret
    django_setup(database_url=url, redis_prefix=PREFIX)
    from accounts.models import User
    from accounts.tokens import PicksRefreshToken
    from recommendations.models import PendingRefresh

    PendingRefresh.objects.all().delete()  # the demo's own history: the batch has it
    service, _ = User.objects.get_or_create(username="fresh-bench-service", is_service=True)
    token = str(PicksRefreshToken.for_user(service).access_token)
    shop = Shop(args.users, args.items, args.events, args.groups)
    server_env = {"PICKS_REDIS_PREFIX": PREFIX, "THROTTLE_EVENTS": "100000000/min"}
    with production_server(database_url=url, secret_key=secret, extra_env=server_env) as base:
        found = quality(base, token, shop, cohort_size=args.cohort, db=args.database)
        print(json.dumps({k: v for k, v in found.items()}, default=str), flush=True)
        refresher = subprocess.Popen(
            [sys.executable, "manage.py", "refresh_users"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local",
                 "DATABASE_URL": url, "PICKS_REDIS_PREFIX": PREFIX, "LOG_LEVEL": "WARNING"},
        )  # fmt: skip
        time.sleep(15)  # the refresher loads the served models
        trained = shop.shop.spec.users
        user_ids = list(
            User.objects.filter(username__startswith="demo").values_list("pk", flat=True)[:trained]
        )
        runs = []
        try:
            for rate in (int(r) for r in args.rates.split(",")):
                runs.append(
                    latency(base, token, rate=rate, seconds=args.seconds, user_ids=user_ids,
                            items=shop.item_ids.tolist())
                )  # fmt: skip
                r = runs[-1]
                print(rate, r["achieved"], percentiles(r["latencies"]), r["missing"], flush=True)
        finally:
            refresher.terminate()
            refresher.wait()
    report(args, size, build, found, runs)


def report(args, size, build, found, runs) -> None:
    rows = []
    for k in KS:
        t, f, r = found["today"][k], found["fresh"][k], found["retrain"][k]
        rows.append(
            f"| {k} | {t[0]:.0%} / {t[1]:.0%} | {f[0]:.0%} / {f[1]:.0%} | "
            f"{r[0]:.0%} / {r[1]:.0%} | {f[1] / r[1] if r[1] else float('nan'):.2f} |"
        )
    lat = [
        f"| {r['rate']} | {r['achieved']:.0f} | {len(r['latencies'])} | "
        f"{percentiles(r['latencies'])} | {r['missing']} |"
        for r in runs
    ]
    cost = found["cost"]
    command = f".venv/bin/python bench/freshness.py {' '.join(size)} --rates {args.rates} " \
        f"--seconds {args.seconds} --cohort {args.cohort}"  # fmt: skip
    write_section(
        "Freshness: swipe to deck",
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1; gunicorn (2 sync workers),
the refresher and the load generator on the same cores. Date: {dt.date.today()}.
Command: `{command}`{" (shop built: " + ", ".join(build) + ")" if build else ""}

Fold-in quality: {args.cohort} new users per k (none in training), each of one planted
group, post their first k likes; their next 10 deck entries: share of their group / share of
users with a hit among 30 planted likes they did not post.

| k likes | today (no refresh) | refresher | full retrain | hit rate, refresher / retrain |
| ---: | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

The full retrain (update_interactions, train_mf_model --force, generate_decks) took
{found["retrain_seconds"]:.0f} s.

Refresh cost (in-process passes of 50 users over the {cost["users"]} cohort users):
{cost["users"] / cost["seconds"]:.0f} users/s, {cost["per_user_ms"]:.1f} ms per user (reading
their events, ALS and MF fold-in, top buys, deck, the Redis write); one refresh writes
{sum(cost["bytes"])} bytes (top buys {cost["bytes"][0]}, deck {cost["bytes"][1]}, MF vector
{cost["bytes"][2]}).

Latency from a like's 201 to a refresh that read it (ms), steady rate from trained users:

| swipes/s asked | achieved | measured | p50 / p95 / p99 ms | not reached in 60 s |
| ---: | ---: | ---: | ---: | ---: |
{chr(10).join(lat)}
""",
    )


if __name__ == "__main__":
    main()
