"""The swipe half: decks on the demo shop, MF against its baselines on the harder shop, and
MF epoch time on ~2M swipes.

    .venv/bin/python bench/mf_swipes.py [--part all|decks|baselines] [--swipe-events 3500000]
                                        [--trials 30] [--seeds 5]

decks: loads the default demo shop (10k users, 2k items, 200k events, 8 taste groups) into a
scratch database, runs the jobs, and reads every deck back from Redis: share of the user's
taste group, swiped items shown again, the worst cluster count in 10 consecutive entries,
exploration share; then times MF epochs on a synthetic shop with about 2M swipes (pure
`ml.mf`, no database), on the CPU (and CUDA if this machine has it).

baselines: on the harder synthetic shop (noise, user and item biases, two-taste users), the
random search on seed 0's validation swipes that chose the MF defaults; then, over `--seeds`
shops, MF with the defaults against the user + item bias model, the item like rate and the
previous defaults on the same held-out swipes (a fifth of each user's); the same shop through
`generate_demo_data --hard` and `train_mf_model`; and seconds per epoch at 100k users x 20k
items, previous defaults and current ones in the same run.
"""

import argparse
import dataclasses
import datetime as dt
import time

import numpy as np
from common import django_setup, fresh_database, machine, manage, write_section

from recommendations.ml import mf
from recommendations.ml.data import holdout_mask
from recommendations.ml.synthetic import ShopSpec, make_shop

# The defaults before the swipe model was tuned against its baselines.
PREVIOUS = mf.MfParams(
    learning_rate=0.01, weight_decay=1e-6, regularization=0.0, negative_weight=1.0
)
HARD = {"users": 3000, "items": 1000, "events": 300_000}
TUNING_HEADER = (
    "| factors / lr / L2 / negatives x weight / dropout / batch norm | validation AUC "
    "| log-loss | epochs |\n| --- | ---: | ---: | ---: |"
)
BASELINES_HEADER = (
    "| seed | swipes | likes | MF (defaults) | MF (previous defaults) | user + item bias "
    "| item like rate | MF - bias AUC |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)

JOBS = ["update_interactions", "publish_catalog", "train_als_model", "train_mf_model",
        "generate_decks", "generate_similar_items"]  # fmt: skip


def demo_decks() -> str:
    url = fresh_database("picks_bench_demo")
    env = {"PICKS_REDIS_PREFIX": "picks-bench", "LOG_LEVEL": "WARNING"}
    timings = [
        ("generate_demo_data", manage("generate_demo_data", database_url=url, extra_env=env))
    ]
    timings += [(job, manage(job, database_url=url, extra_env=env)) for job in JOBS]
    django_setup(database_url=url)
    from accounts.models import User
    from catalog.models import Item
    from recommendations import store
    from recommendations.ml.diversity import longest_cluster_count
    from recommendations.models import Interaction, ModelRun
    from recommendations.services.precompute.decks import item_groups
    from recommendations.services.training.model_runs import load_served

    groups = ShopSpec().groups
    item_group = {
        pk: int(sku.split("-")[1]) % groups for pk, sku in Item.objects.values_list("pk", "sku")
    }
    user_group = {
        pk: int(name.split("-")[1]) % groups
        for pk, name in User.objects.filter(username__startswith="demo-").values_list(
            "pk", "username"
        )
    }
    _, artifact = load_served(ModelRun.Kind.MF)
    cluster = dict(
        zip(artifact.items.ids.tolist(), item_groups(artifact.items)[0].tolist(), strict=True)
    )
    swiped: dict[int, set[int]] = {}
    for u, i in Interaction.objects.filter(kind__in=["like", "dislike", "purchase"]).values_list(
        "user_id", "item_id"
    ):
        swiped.setdefault(u, set()).add(i)
    top20, full, repeats, worst, explored, count = [], [], 0, 0, [], 0
    for user_id in artifact.users.ids.tolist():
        deck = store.read_page(
            [(store.DECK, user_id)], want=100, stored=200, seen_of_user=user_id
        ).entries
        if not deck:
            continue
        count += 1
        own = [item_group[e.item_id] == user_group[user_id] for e in deck]
        top20.append(np.mean(own[:20]))
        full.append(np.mean(own))
        repeats += sum(e.item_id in swiped.get(user_id, ()) for e in deck)
        worst = max(worst, longest_cluster_count([cluster[e.item_id] for e in deck], window=10))
        explored.append(np.mean([e.source == "explore" for e in deck]))
    store.delete_prefix()
    run = ModelRun.objects.filter(kind="mf").first()
    rows = "\n".join(f"| `{job}` | {t.seconds:.1f} | {t.peak_rss_mb:.0f} |" for job, t in timings)
    return f"""
**Demo shop** (10,000 users, 2,000 items, 200,000 events, 8 taste groups; jobs run with
`manage.py`, one process each):

| job | seconds | peak RSS MB |
| --- | ---: | ---: |
{rows}

MF on held-out swipes (20 %): AUC **{run.metrics["auc"]:.4f}** (target >= 0.85), log-loss
{run.metrics["log_loss"]:.4f}, nDCG@10 {run.metrics.get("ndcg@10", float("nan")):.4f},
precision@10 {run.metrics.get("precision@10", float("nan")):.4f}, {run.metrics["epochs"]} epochs.

Decks of {count} users, read back from Redis: share of the user's taste group in the first
20 entries **{np.mean(top20):.1%}** (all 100: {np.mean(full):.1%}; target >= 70 %); swiped or
bought items shown again: **{repeats}**; most entries of one near-duplicate cluster (same
category, brand and colour) in any 10 consecutive: **{worst}** (target <= 3); exploration
share {np.mean(explored):.1%} (setting 10 %).
"""


def hard_swipes(seed: int) -> tuple:
    """The harder shop's swipes as (users, items, labels, test), test a fifth of each user's."""
    shop = make_shop(ShopSpec.hard(seed=seed, **HARD))
    keep = shop.event_kind <= 1
    users, items = shop.event_user[keep], shop.event_item[keep]
    labels = (shop.event_kind[keep] == 0).astype(np.float32)
    return users, items, labels, holdout_mask(users, test_fraction=0.2, seed=0)


def _knobs(params: dict) -> str:
    return (
        f"{params['factors']} / {params['learning_rate']:.4f} / {params['regularization']:.4f} / "
        f"{params['negatives_per_positive']:g} x {params['negative_weight']:g} / "
        f"{params['dropout']:g} / {'yes' if params['batch_norm'] else 'no'}"
    )


def tuning(trials: int) -> str:
    users, items, labels, test = hard_swipes(0)
    validation = mf.validation_part(users, ~test, seed=1)
    train = ~test
    candidates = [mf.MfParams(), *mf.search_candidates(PREVIOUS, trials=trials)]
    started = time.perf_counter()
    recorded = mf.random_search(
        users[train], items[train], labels[train], validation[train],
        n_users=HARD["users"], n_items=HARD["items"], candidates=candidates,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    now, searched = recorded[0], recorded[1:]
    rows = "\n".join(
        f"| {_knobs(r['params'])} | {r['auc']:.4f} | {r['log_loss']:.4f} | {r['epochs']} |"
        for r in sorted(searched, key=lambda r: -r["auc"])[:6]
    )
    return f"""
**Tuning** (`train_mf_model --tune`'s search, pure `ml.mf`): seed 0 of the harder shop, the
search's validation part (a fifth of each user's training swipes); the test fifth is not
looked at. {trials} trials (the first is the previous defaults) in {seconds:.0f} s. Best six:

{TUNING_HEADER}
{rows}

Previous defaults: validation AUC {searched[0]["auc"]:.4f}. The current defaults (the winner,
rounded: {_knobs(now["params"])}): **{now["auc"]:.4f}**.
"""


def against_baselines(seeds: int) -> str:
    rows, margins = [], []
    for seed in range(seeds):
        users, items, labels, test = hard_swipes(seed)
        scores = {}
        for name, params in (
            ("mf", mf.MfParams()),
            ("previous", PREVIOUS),
            ("bias", mf.bias_params(mf.MfParams())),
        ):
            _, predicted = mf.fit_held_out(
                users, items, labels, test,
                n_users=HARD["users"], n_items=HARD["items"], params=params,
            )  # fmt: skip
            scores[name] = mf.classification_metrics(labels[test], predicted)
        rates = mf.item_like_rates(items[~test], labels[~test], n_items=HARD["items"])
        scores["rate"] = mf.classification_metrics(labels[test], rates[items[test]])
        margins.append(scores["mf"]["auc"] - scores["bias"]["auc"])
        rows.append(
            f"| {seed} | {len(users):,} | {labels.mean():.0%} | "
            + " | ".join(
                f"{scores[n]['auc']:.4f} / {scores[n]['log_loss']:.3f}"
                for n in ("mf", "previous", "bias", "rate")
            )
            + f" | {margins[-1]:+.4f} |"
        )
    margins = np.array(margins)
    return f"""
**MF against its baselines** on the same held-out swipes (harder shop: {HARD["users"]:,} users,
{HARD["items"]:,} items, {HARD["events"]:,} events, `ShopSpec.hard()`: noise 0.1, user and
item bias sd 1.0, 30 % two-taste users), AUC / log-loss:

{BASELINES_HEADER}
{chr(10).join(rows)}

MF's AUC above the bias model's by **{margins.mean():+.4f}** (sd {margins.std(ddof=1):.4f},
min {margins.min():+.4f}) over {seeds} seeds.
"""


def through_the_jobs() -> str:
    url = fresh_database("picks_bench_hard")
    env = {"PICKS_REDIS_PREFIX": "picks-bench", "LOG_LEVEL": "WARNING"}
    size = [f"--{k}={v}" for k, v in HARD.items()]
    load = manage("generate_demo_data", "--hard", "--no-pictures", *size,
                  database_url=url, extra_env=env)  # fmt: skip
    train = manage("train_mf_model", database_url=url, extra_env=env)
    django_setup(database_url=url)
    from recommendations.models import ModelRun
    from recommendations.store import delete_prefix

    run = ModelRun.objects.filter(kind="mf").first()
    m = run.metrics
    delete_prefix()
    return f"""
**Through the jobs**: `generate_demo_data --hard --no-pictures` ({load.seconds:.0f} s), then
`train_mf_model` ({train.seconds:.0f} s, peak RSS {train.peak_rss_mb:.0f} MB): held-out AUC MF
**{m["auc"]:.4f}**, bias {m["bias_auc"]:.4f}, item like rate {m["item_rate_auc"]:.4f};
log-loss {m["log_loss"]:.4f} / {m["bias_log_loss"]:.4f} / {m["item_rate_log_loss"]:.4f};
{m["epochs"]} epochs. Decision: "{run.decision}".
"""


def epoch_times(events: int) -> str:
    shop = make_shop(ShopSpec(users=100_000, items=20_000, events=events, seed=1))
    keep = shop.event_kind <= 1
    users, items = shop.event_user[keep], shop.event_item[keep]
    labels = (shop.event_kind[keep] == 0).astype(np.float32)
    lines = []
    import torch

    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    for device in devices:
        means = {}
        # previous and current defaults alternate, twice, so that load on the machine falls on both
        for name, base in [("previous", PREVIOUS), ("current", mf.MfParams())] * 2:
            stamps = [time.perf_counter()]
            params = dataclasses.replace(base, epochs=3, patience=10, device=device)
            mf.fit(
                users, items, labels, n_users=100_000, n_items=20_000, params=params,
                on_epoch=lambda _, stamps=stamps: stamps.append(time.perf_counter()),
            )  # fmt: skip
            per_epoch = np.diff(stamps)
            means.setdefault(name, []).append(per_epoch[1:].mean())
            lines.append(
                f"| {device} ({torch.get_num_threads()} threads) | {name} | {len(users):,} | "
                f"{', '.join(f'{s:.1f}' for s in per_epoch)} | {per_epoch[1:].mean():.1f} |"
            )
        ratio = np.mean(means["current"]) / np.mean(means["previous"])
        lines.append(f"| {device} | current / previous | | | **{ratio:.2f}x** |")
    note = (
        ""
        if len(devices) > 1
        else "\nNo CUDA device on this machine (none was lent to this task).\n"
    )
    return f"""
**MF epoch time** (100,000 users, 20,000 items; swipes plus as many sampled negatives; batch
8192; {events:,} synthetic events of which these are likes and dislikes; previous defaults:
no batch L2, sampled items weight 1; current: batch L2, weight 0.5):

| device | defaults | swipes | seconds per epoch (each) | mean after the first |
| --- | --- | ---: | --- | ---: |
{chr(10).join(lines)}
{note}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=["all", "decks", "baselines"], default="all")
    parser.add_argument("--swipe-events", type=int, default=3_500_000)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    header = f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}."""
    if args.part in ("all", "decks"):
        write_section(
            "Swipe decks and MF",
            f"""{header}
Command: `.venv/bin/python bench/mf_swipes.py --part decks`
{demo_decks()}""",
        )
    if args.part in ("all", "baselines"):
        write_section(
            "Swipe model against its baselines",
            f"""{header}
Command: `.venv/bin/python bench/mf_swipes.py --part baselines --trials {args.trials} --seeds
{args.seeds} --swipe-events {args.swipe_events}`
{tuning(args.trials)}{against_baselines(args.seeds)}{through_the_jobs()}"""
            f"{epoch_times(args.swipe_events)}",
        )


if __name__ == "__main__":
    main()
