"""The whole ALS path (aggregate -> train -> top-N for every user -> publish) against bare
implicit (fit + batch recommend) on the same matrix, side by side in one process.

    .venv/bin/python bench/als_path.py [--database NAME]

Needs a database holding orders: by default `picks_bench_import`, which
`bench/import_orders.py` fills with Online Retail (this script runs that import if the
database is missing). `bench/scale.py` runs the same comparison on the synthetic shop.
"""

import argparse
import datetime as dt
import shlex
import sys
import time
from statistics import median

import numpy as np
from common import (
    PG_SERVER,
    ROOT,
    SHARED_DATA,
    database_exists,
    django_setup,
    fresh_database,
    machine,
    manage,
    write_section,
)


def bare_implicit(matrix, params, n: int) -> float:
    """implicit alone: fit, then recommend for every user in batches, seen items filtered."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    started = time.perf_counter()
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(
            factors=params.factors,
            regularization=params.regularization,
            alpha=params.alpha,
            iterations=params.iterations,
            random_state=params.seed,
        )
        model.fit(matrix, show_progress=False)
        users = np.arange(matrix.shape[0])
        for start in range(0, len(users), 2000):
            batch = users[start : start + 2000]
            model.recommend(batch, matrix[batch], N=n, filter_already_liked_items=True)
    return time.perf_counter() - started


def compare(label: str, *, repeats: int = 6) -> str:
    """Run both paths in this (Django-configured) process, alternating, `repeats` times each;
    a Markdown table comes back."""
    from django.conf import settings
    from django.db import connection
    from django.db.models import Max

    from recommendations import store
    from recommendations.models import Order
    from recommendations.services.aggregation import update_interactions
    from recommendations.services.precompute.top_buys import generate_top_buys
    from recommendations.services.training.als import (
        current_als_params,
        load_scores,
        train_als_model,
    )

    n = settings.PICKS_LIST_LENGTH
    # Jobs count recency from their run's time: replay an old history as of its last order.
    settings.PICKS_AS_OF = Order.objects.aggregate(newest=Max("ordered_at"))["newest"]
    started = time.perf_counter()
    update_interactions(full=True)
    rebuild = time.perf_counter() - started
    with connection.cursor() as cursor:  # what autovacuum does soon after a rebuild
        cursor.execute("VACUUM ANALYZE user_product_interactions")
    params = current_als_params()
    started = time.perf_counter()
    scores = load_scores()  # the whole table after the rebuild; the snapshot is stored
    first_read = time.perf_counter() - started
    matrix = scores.matrix(half_life_days=params.half_life_days)
    steps = [
        "aggregate, incremental (update_interactions)",
        "train_als_model (load, fit, held-out evaluation, fold-in, artifact)",
        f"generate_top_buys (top {n} for every user, publish)",
    ]
    runs = []
    for _ in range(repeats):
        timings = []
        for step in (update_interactions, lambda: train_als_model(force=True), generate_top_buys):
            started = time.perf_counter()
            step()
            timings.append(time.perf_counter() - started)
        runs.append((timings, bare_implicit(matrix, params, n)))
    store.delete_prefix()
    header = " | ".join(f"run {i + 1}" for i in range(repeats))
    rows = "\n".join(
        f"| {name} | " + " | ".join(f"{t[i]:.2f}" for t, _ in runs) + " |"
        for i, name in enumerate(steps)
    )
    paths = [sum(t) for t, _ in runs]
    bares = [b for _, b in runs]

    def bold(values: list[float]) -> str:
        return " | ".join(f"**{v:.2f}**" for v in values)

    ratios = " | ".join(f"**{p / b:.2f}x**" for p, b in zip(paths, bares, strict=True))
    return f"""
{label}: {matrix.shape[0]} users x {matrix.shape[1]} items, {matrix.nnz} scores;
ALS {params.as_dict()}; the last run's held-out nDCG@10 {_last_ndcg():.4f}.
Both sides use implicit's own threads (2) and one BLAS thread; the two alternate, {repeats} times.

| step (seconds) | {header} |
| --- | {" | ".join("---:" for _ in range(repeats))} |
{rows}
| **whole path** | {bold(paths)} |
| **bare implicit: fit + recommend top {n} for every user** | {bold(bares)} |
| whole path / bare | {ratios} |

Best of each: {min(paths):.2f} s against {min(bares):.2f} s = **{min(paths) / min(bares):.2f}x**;
median of the runs' ratios **{median(p / b for p, b in zip(paths, bares, strict=True)):.2f}x**
(target <= 1.3x). A full rebuild of the aggregates (`update_interactions --full`, only after a
schema change; cron runs incrementally) took {rebuild:.2f} s on top (then VACUUM ANALYZE, as
autovacuum would), and the first read of the scores after it {first_read:.2f} s (the whole
table, stored as the snapshot that later reads start from; each run above reads that snapshot
and the rows changed since).
"""


def _last_ndcg() -> float:
    from recommendations.models import ModelRun

    run = ModelRun.objects.filter(kind=ModelRun.Kind.ALS).order_by("-pk").first()
    return run.metrics["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="picks_bench_import")
    parser.add_argument("--label", default="Online Retail orders")
    parser.add_argument("--title", default="Whole ALS path against bare implicit")
    args = parser.parse_args()
    url = f"{PG_SERVER}/{args.database}"
    if not database_exists(args.database):
        url = fresh_database(args.database)
        path = SHARED_DATA / "online_retail" / "online_retail.csv.gz"
        manage("import_orders", str(path), database_url=url)
    manage("migrate", "--noinput", database_url=url)
    django_setup(database_url=url)
    table = compare(f"{args.label} (database `{args.database}`)")
    command = shlex.join(["bench/als_path.py", *sys.argv[1:]])
    write_section(
        args.title,
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python {command}` (run from {ROOT.name}/).
{table}""",
    )


if __name__ == "__main__":
    main()
