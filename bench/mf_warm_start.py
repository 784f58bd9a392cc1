"""The swipe model's warm start against training from scratch, on a synthetic shop whose newest
1 % of swipes arrive after the first fit (the steady state of `train_mf_model`): epochs, time,
held-out AUC and nDCG@10 of a cold fit on all swipes, and of warm fits from the first model
at the full learning rate and at WARM_LEARNING_RATE_SHARE of it.

    .venv/bin/python bench/mf_warm_start.py                      # 50k users x 10k items
    .venv/bin/python bench/mf_warm_start.py --users 20000 --items 3000 --events 800000 --hard

Pure ml/ code (the split the job draws, `mf.fit_held_out`): no database.
"""

import argparse
import time

import numpy as np
from common import machine, write_section

from recommendations.ml import mf
from recommendations.ml.data import (
    IdIndex,
    build_matrix,
    holdout_mask,
    stable_uniform,
    top_k_of_products,
)
from recommendations.ml.evaluate import ranking_metrics
from recommendations.ml.synthetic import KINDS, ShopSpec, make_shop

# services/training/mf.py's (that module imports Django)
WARM_LEARNING_RATE_SHARE, WARM_MAX_EPOCHS = 0.2, 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--hard", action="store_true", help="the harder shop (noise, biases)")
    args = parser.parse_args()
    spec = (ShopSpec.hard if args.hard else ShopSpec)(
        users=args.users, items=args.items, events=args.events
    )
    shop = make_shop(spec)
    swipe = np.isin(shop.event_kind, [KINDS.index("like"), KINDS.index("dislike")])
    u, i = shop.event_user[swipe], shop.event_item[swipe]
    y = (shop.event_kind[swipe] == KINDS.index("like")).astype(np.float32)
    t = -shop.event_age_seconds[swipe]
    old = t < np.quantile(t, 0.99)  # the newest 1 % arrive after the first fit
    everything = np.ones(len(u), bool)
    test = holdout_mask(u, test_fraction=0.2, seed=0, draws=stable_uniform(u, i, t, seed=0))
    valid = (stable_uniform(u, i, t, seed=1) < 0.1) & ~test
    params = mf.MfParams()

    def ndcg(model: mf.MfModel, rows: np.ndarray) -> float:
        train, liked = rows & ~test, rows & test & (y > 0)
        users = np.unique(u[liked])[:5000]
        user_vectors, item_vectors = mf.embeddings(model)
        all_items, all_users = IdIndex(np.arange(spec.items)), IdIndex(np.arange(spec.users))
        seen = build_matrix(
            u[train], i[train], np.ones(train.sum()), users=all_users, items=all_items
        ).user_items

        def unseen(part: np.ndarray, scores: np.ndarray) -> np.ndarray:
            scores[seen[part].nonzero()] = -np.inf
            return scores

        top = np.concatenate([best for _, best, _ in top_k_of_products(
            user_vectors, item_vectors, k=10, rows=users, adjust=unseen)])  # fmt: skip
        mine = liked & np.isin(u, users)
        truth = build_matrix(u[mine], i[mine], np.ones(mine.sum()), users=IdIndex(users),
                             items=all_items).user_items  # fmt: skip
        return ranking_metrics(top, truth, k=10)["ndcg@10"]

    def fit(name: str, rows: np.ndarray, **extra: object) -> tuple[mf.MfModel, dict]:
        started = time.perf_counter()
        model, predicted = mf.fit_held_out(
            u[rows], i[rows], y[rows], test[rows], n_users=spec.users, n_items=spec.items,
            params=params, valid=valid[rows], **extra,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        auc = mf.classification_metrics(y[rows & test], predicted)["auc"]
        row = {"fit": name, "epochs": len(model.history), "seconds": seconds, "auc": auc,
               "ndcg": ndcg(model, rows)}  # fmt: skip
        print(row, flush=True)
        return model, row

    first, before = fit("first run: cold, without the newest 1 %", old)
    rows = [
        before,
        fit("next run: cold", everything)[1],
        fit("next run: warm, full learning rate", everything, init=first, patience=1,
            learning_rate=params.learning_rate)[1],
        fit(f"next run: warm, {WARM_LEARNING_RATE_SHARE} x learning rate", everything,
            init=first, patience=1,
            learning_rate=params.learning_rate * WARM_LEARNING_RATE_SHARE)[1],
        fit(f"next run: warm, {WARM_LEARNING_RATE_SHARE} x learning rate, at most "
            f"{WARM_MAX_EPOCHS} epochs (the job's)", everything, init=first, patience=1,
            learning_rate=params.learning_rate * WARM_LEARNING_RATE_SHARE,
            max_epochs=WARM_MAX_EPOCHS)[1],
    ]  # fmt: skip
    table = "\n".join(
        f"| {r['fit']} | {r['epochs']} | {r['seconds']:.1f} | {r['auc']:.4f} | {r['ndcg']:.4f} |"
        for r in rows
    )
    shop_name = "harder" if args.hard else "clean"
    write_section(
        f"Swipe model: warm start against cold ({shop_name} shop)",
        f"""Machine: {machine()}. Command: `.venv/bin/python bench/mf_warm_start.py --users
{args.users} --items {args.items} --events {args.events}{" --hard" if args.hard else ""}`.
{len(u):,} swipes; the newest 1 % arrive after the first fit. The same held-out split (drawn
from each swipe's own values, as the job draws it) scores every fit; nDCG@10 of held-out likes
over up to 5,000 users, training swipes filtered out. Warm fits start from the first run's
model (same user and item indexes) with patience 1 (the best epoch on the validation swipes
is kept).

| fit | epochs | seconds | AUC | nDCG@10 |
|---|---:|---:|---:|---:|
{table}
""",
    )


if __name__ == "__main__":
    main()
