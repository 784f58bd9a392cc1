"""The swipe half on the demo shop (through the real jobs), and MF epoch time on ~2M swipes.

    .venv/bin/python bench/mf_swipes.py [--swipe-events 3500000]

Part 1 loads the default demo shop (10k users, 2k items, 200k events, 8 taste groups) into a
scratch database, runs the jobs, and reads every deck back from Redis: share of the user's
taste group, swiped items shown again, the worst cluster count in 10 consecutive entries,
exploration share. Part 2 times MF epochs on a synthetic shop with about 2M swipes (pure
`ml.mf`, no database), on the CPU (and CUDA if this machine has it).
"""

import argparse
import datetime as dt
import time

import numpy as np
from common import django_setup, fresh_database, machine, manage, write_section

from recommendations.ml import mf
from recommendations.ml.synthetic import ShopSpec, make_shop

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


def epoch_times(events: int) -> str:
    shop = make_shop(ShopSpec(users=100_000, items=20_000, events=events, seed=1))
    keep = shop.event_kind <= 1
    users, items = shop.event_user[keep], shop.event_item[keep]
    labels = (shop.event_kind[keep] == 0).astype(np.float32)
    lines = []
    import torch

    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    for device in devices:
        stamps = [time.perf_counter()]
        params = mf.MfParams(epochs=3, patience=10, device=device)
        mf.fit(users, items, labels, n_users=100_000, n_items=20_000, params=params,
               on_epoch=lambda _, stamps=stamps: stamps.append(time.perf_counter()))  # fmt: skip
        per_epoch = np.diff(stamps)
        lines.append(
            f"| {device} ({torch.get_num_threads()} threads) | {len(users):,} | "
            f"{', '.join(f'{s:.1f}' for s in per_epoch)} | {per_epoch[1:].mean():.1f} |"
        )
    note = (
        ""
        if len(devices) > 1
        else "\nNo CUDA device on this machine (none was lent to this task).\n"
    )
    return f"""
**MF epoch time** (100,000 users, 20,000 items; swipes plus as many sampled negatives; batch
8192; {events:,} synthetic events of which these are likes and dislikes):

| device | swipes | seconds per epoch (each) | mean after the first |
| --- | ---: | --- | ---: |
{chr(10).join(lines)}
{note}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--swipe-events", type=int, default=3_500_000)
    args = parser.parse_args()
    write_section(
        "Swipe decks and MF",
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/mf_swipes.py --swipe-events {args.swipe_events}`
{demo_decks()}{epoch_times(args.swipe_events)}""",
    )


if __name__ == "__main__":
    main()
