"""The whole ALS path (aggregate -> train -> top-N for every user -> publish) against bare
implicit (fit + batch recommend) on the same matrix, side by side in one process.

    .venv/bin/python bench/als_path.py [--database NAME]

Needs a database holding orders: by default `picks_bench_import`, which
`bench/import_orders.py` fills with Online Retail (this script runs that import if the
database is missing). `bench/scale.py` runs the same comparison on the synthetic shop.
"""

import argparse
import datetime as dt
import time

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


def compare(label: str) -> str:
    """Run both paths in this (Django-configured) process; a Markdown table comes back."""
    from django.conf import settings

    from recommendations import store
    from recommendations.services.aggregation import update_interactions
    from recommendations.services.lists import generate_top_buys
    from recommendations.services.training import current_als_params, load_scores, train_als_model

    n = settings.PICKS_LIST_LENGTH
    timings = {}
    started = time.perf_counter()
    update_interactions(full=True)
    timings["aggregate, full rebuild (update_interactions --full)"] = time.perf_counter() - started
    started = time.perf_counter()
    update_interactions()
    timings["aggregate, incremental with nothing new"] = time.perf_counter() - started
    started = time.perf_counter()
    run = train_als_model(force=True)
    timings["train_als_model (fit, held-out evaluation, fold-in, artifact)"] = (
        time.perf_counter() - started
    )
    started = time.perf_counter()
    result = generate_top_buys()
    timings[f"generate_top_buys (top {n} for {result.lists} users, publish)"] = (
        time.perf_counter() - started
    )
    params = current_als_params()
    matrix = load_scores().matrix(half_life_days=params.half_life_days)
    bare = bare_implicit(matrix, params, n)
    store.delete_prefix()
    full, incremental, *rest = timings.values()
    path_incremental = incremental + sum(rest)
    path_full = full + sum(rest)
    rows = "\n".join(f"| {name} | {s:.2f} |" for name, s in timings.items())
    return f"""
{label}: {matrix.shape[0]} users x {matrix.shape[1]} items, {matrix.nnz} scores;
ALS {params.as_dict()}; held-out nDCG@10 {run.metrics["ndcg@10"]:.4f}.

| step | seconds |
| --- | ---: |
{rows}
| **bare implicit: fit + recommend top {n} for every user** | **{bare:.2f}** |

Whole path with incremental aggregation: {path_incremental:.2f} s =
**{path_incremental / bare:.2f}x** bare; with a full rebuild of the aggregates:
{path_full:.2f} s = {path_full / bare:.2f}x.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="picks_bench_import")
    args = parser.parse_args()
    url = f"{PG_SERVER}/{args.database}"
    if not database_exists(args.database):
        url = fresh_database(args.database)
        path = SHARED_DATA / "online_retail" / "online_retail.csv.gz"
        manage("import_orders", str(path), database_url=url)
    manage("migrate", "--noinput", database_url=url)
    django_setup(database_url=url)
    table = compare(f"Online Retail orders (database `{args.database}`)")
    write_section(
        "Whole ALS path against bare implicit",
        f"""
Machine: {machine()}; PostgreSQL 15 and Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/als_path.py` (run from {ROOT.name}/).
{table}""",
    )


if __name__ == "__main__":
    main()
