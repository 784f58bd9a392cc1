"""A/B experiments end to end: simulated users read their lists and buy through the API.

    .venv/bin/python bench/ab_simulation.py [--users 10000] [--aa-seeds 200]

A fresh demo shop (its own database, `generate_demo_data` + `run_pipeline`) and, per
scenario, an experiment on top buys (`experiment create/start`). Each simulated user of a
day reads GET /api/recommendations/top-buys/ with their own token (the answer names the
variant; the read counts the impression), then buys with the scenario's probability for that
variant through POST /api/interactions/. After each day the report (`experiment_report
--json`) is read, as staff would read it every day.

- planted: treatment buys 20 % more (relative); days of 500 users until p < 0.05.
- A/A through the API: two identical variants, --aa-api-users visits, looked at daily.
- A/A x seeds: the false-positive rate over --aa-seeds experiments (new salt each) with the
  same daily looks; the reads are the same assignment function and the same report
  statistics, the purchases drawn in this process (200 runs through HTTP would take hours).
- broken split: 50/50 configured, but 4 in 7 of the treatment's users never arrive (70/30
  served): the sample-ratio check must flag it.
Prints one JSON summary (an entry per scenario) and writes docs/benchmarks.md.
"""

import argparse
import datetime as dt
import json
import os
import time

import numpy as np
from common import django_setup, fresh_database, machine, manage, write_section

PREFIX = "picks-ab"
DATABASE = "picks_bench_ab"
BASE_RATE = 0.10
DAY = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=40_000)
    parser.add_argument("--aa-api-users", type=int, default=10_000)
    parser.add_argument("--aa-seeds", type=int, default=200)
    args = parser.parse_args()
    url = fresh_database(DATABASE)
    env = {"PICKS_REDIS_PREFIX": PREFIX, "LOG_LEVEL": "WARNING"}
    manage("generate_demo_data", f"--users={args.users}", "--no-pictures",
           database_url=url, extra_env=env)  # fmt: skip
    manage("run_pipeline", database_url=url, extra_env=env)
    for scope in ("ANON", "USER", "AUTH", "EVENTS", "LISTS_ANON", "LISTS_USER"):
        os.environ[f"THROTTLE_{scope}"] = "100000000/min"  # simulated users, not attackers
    django_setup(database_url=url, redis_prefix=PREFIX)

    from django.conf import settings
    from rest_framework.test import APIClient

    from accounts.models import User
    from accounts.tokens import PicksRefreshToken
    from recommendations import store
    from recommendations.ml import experiments as stats
    from recommendations.models import Experiment, Variant
    from recommendations.services import experiments

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.PICKS_EXPERIMENT_CACHE_SECONDS = 0
    users = list(User.objects.filter(is_staff=False, is_service=False).order_by("pk"))

    def create(name: str, shares=(50, 50)) -> Experiment:
        experiment = Experiment.objects.create(name=name, family=Experiment.Family.TOP_BUYS)
        for i, share in enumerate(shares):
            Variant.objects.create(
                experiment=experiment, name="control" if i == 0 else f"treatment{i}",
                share=share, is_control=i == 0, position=i,
            )  # fmt: skip
        experiments.start(experiment)
        return experiment

    def visit(user, rate_of: dict[str, float], rng, arrives=lambda variant: True) -> None:
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {PicksRefreshToken.for_user(user).access_token}"
        )
        # the variant is known before the read here only to drop users of a broken split
        experiment = experiments.running_for(store.TOP_BUYS)
        variant = experiment.arm_of(experiments.reader_key(user_id=user.pk)).name
        if not arrives(variant):
            return
        answer = client.get("/api/recommendations/top-buys/").json()
        assert answer["experiment"]["variant"] == variant, answer["experiment"]
        if rng.random() < rate_of[variant] and answer["results"]:
            item = answer["results"][int(rng.integers(len(answer["results"])))]["item"]["id"]
            posted = client.post(
                "/api/interactions/", {"item": item, "kind": "purchase"}, format="json"
            )
            assert posted.status_code == 201, posted.content

    def purchase_p(experiment: Experiment) -> tuple[float, float | None, dict]:
        report = experiments.report(experiment)
        treated = next(a for a in report.arms if not a.control)
        c = treated.against_control["purchase"]
        return c.p_value, c.lift, report

    summary = {}
    started = time.perf_counter()

    # 1. a planted 20 % lift, looked at every day
    rng = np.random.default_rng(1)
    planted = create("planted-lift")
    order = rng.permutation(len(users))
    rates = {"control": BASE_RATE, "treatment1": BASE_RATE * 1.2}
    found, looks = None, []
    for day_start in range(0, len(users), DAY):
        for n in order[day_start : day_start + DAY]:
            visit(users[n], rates, rng)
        p, lift, report = purchase_p(planted)
        looks.append({"users": sum(a.users for a in report.arms), "p_value": p, "lift": lift})
        if p < 0.05:
            found = looks[-1]
            break
    summary["planted_20pc_lift"] = {
        "reported_better": found is not None,
        "users_needed": found["users"] if found else None,
        "p_value": looks[-1]["p_value"],
        "lift": looks[-1]["lift"],
        "winner": "treatment1" if found and found["lift"] > 0 else None,
        "daily_looks": len(looks),
    }
    experiments.stop(planted)
    planted_seconds = time.perf_counter() - started

    # 2. A/A through the API, looked at every day
    rng = np.random.default_rng(2)
    aa = create("a-a")
    same = {"control": BASE_RATE, "treatment1": BASE_RATE}
    smallest = 1.0
    for _ in range(0, min(len(users), args.aa_api_users), DAY):
        for n in rng.permutation(len(users))[:DAY]:
            visit(users[n], same, rng)
        p, _, report = purchase_p(aa)
        smallest = min(smallest, p)
    summary["a_a_api"] = {
        "users": sum(a.users for a in report.arms),
        "smallest_daily_p": smallest,
        "reported_different": smallest < 0.05,
        "srm_p_value": report.srm_p_value,
    }
    experiments.stop(aa)

    # 3. A/A over many salts: the same assignment and statistics, purchases drawn here
    rng = np.random.default_rng(3)
    keys = [experiments.reader_key(user_id=u.pk) for u in users]
    false_positives = 0
    for seed in range(args.aa_seeds):
        salt = f"a-a-{seed}"
        buckets = stats.allocate([50, 50])
        arm = np.array([buckets[stats.bucket(salt, k)] for k in keys])
        bought = rng.random(len(keys)) < BASE_RATE
        visit_order = rng.permutation(len(keys))
        flagged = False
        for day_end in range(DAY, len(keys) + 1, DAY):
            seen = visit_order[:day_end]
            a, b = seen[arm[seen] == 0], seen[arm[seen] == 1]
            p = stats.compare(int(bought[a].sum()), len(a), int(bought[b].sum()), len(b)).p_value
            if p < 0.05:
                flagged = True
                break
        false_positives += flagged
    summary["a_a_seeds"] = {
        "seeds": args.aa_seeds,
        "reported_different": false_positives,
        "false_positive_rate": false_positives / args.aa_seeds,
        "looks_per_seed": len(keys) // DAY,
    }

    # 4. a broken split: 4 in 7 of the treatment's users are lost before their read
    rng = np.random.default_rng(4)
    broken = create("broken-split")
    lost = {"treatment1": 4 / 7}
    for n in rng.permutation(len(users))[: min(len(users), 4000)]:
        visit(users[n], same, rng, arrives=lambda v: rng.random() >= lost.get(v, 0.0))
    report = experiments.report(broken)
    summary["broken_split_70_30"] = {
        "users": [a.users for a in report.arms],
        "srm_p_value": report.srm_p_value,
        "flagged": report.srm_flagged,
    }
    experiments.stop(broken)
    store.delete_prefix()

    print(json.dumps(summary, indent=2))
    s = summary
    planted_row = (
        f"reported better: {s['planted_20pc_lift']['reported_better']}, after "
        f"{s['planted_20pc_lift']['users_needed']} users ({s['planted_20pc_lift']['daily_looks']} "
        f"daily looks), p {s['planted_20pc_lift']['p_value']:.4f}, lift "
        f"{(s['planted_20pc_lift']['lift'] or 0):+.1%} ({planted_seconds:.0f} s through the API)"
    )
    write_section(
        "A/B experiments: simulated users through the API",
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/ab_simulation.py --users {args.users} --aa-seeds \
{args.aa_seeds}` (a fresh demo shop of {len(users):,} users; base purchase rate
{BASE_RATE:.0%} per user who reads top buys; days of {DAY} users; the report read daily).

| scenario | result |
| --- | --- |
| planted +20 % purchase rate (relative) | {planted_row} |
| A/A through the API, {args.aa_api_users:,} visits, looked at daily | smallest daily p \
{s["a_a_api"]["smallest_daily_p"]:.3f}: reported different: {s["a_a_api"]["reported_different"]} |
| A/A over {args.aa_seeds} salts, {s["a_a_seeds"]["looks_per_seed"]} daily looks each, stop at \
the first p < 0.05 | {s["a_a_seeds"]["reported_different"]} reported different: false-positive \
rate {s["a_a_seeds"]["false_positive_rate"]:.1%} |
| 50/50 configured, 70/30 served | users {s["broken_split_70_30"]["users"]}, sample-ratio p \
{s["broken_split_70_30"]["srm_p_value"]:.2g}: flagged {s["broken_split_70_30"]["flagged"]} |

The p-values are always valid (mixture SPRT): the daily looks above are what the false-positive
rate is measured under.
""",
    )


if __name__ == "__main__":
    main()
