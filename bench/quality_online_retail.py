"""ALS against popularity on Online Retail, temporal split, and the tuning of ALS's defaults.

    .venv/bin/python bench/quality_online_retail.py [PATH]

Purchases from 2011-11-09 on are held out. Protocol 1 (what `top_buys` serves): only items a
user had not bought before count, and bought items are filtered out of every list. Protocol 2:
rebuys count, nothing is filtered, and "buy again" (the user's own most-bought items) stands
beside popularity. ALS parameters are chosen on a validation split cut from the training part
(2011-10-09 .. 2011-11-08), never on the test part.
"""

import argparse
import datetime as dt
import itertools
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from common import machine, write_section
from online_retail import DEFAULT_PATH, epoch, load

from recommendations.ml import als
from recommendations.ml.data import IdIndex, ScoreTable, aggregate, split_by_time
from recommendations.ml.evaluate import ranking_metrics
from recommendations.ml.popularity import top_n_popular

K = 10
GRID = {
    "factors": [32, 64],
    "regularization": [0.1, 1.0],
    "alpha": [1.0, 2.0, 5.0],
    "iterations": [15],
    "half_life_days": [7.0, 15.0, 30.0],
}
PLAIN = als.AlsParams(factors=64, regularization=0.05, alpha=1.0, half_life_days=0.0)


def buy_again(train: sp.csr_matrix, n: int) -> np.ndarray:
    """Each user's own items by how much they bought them."""
    out = np.full((train.shape[0], n), -1, dtype=np.int64)
    for u in range(train.shape[0]):
        start, end = train.indptr[u], train.indptr[u + 1]
        order = np.argsort(-train.data[start:end], kind="stable")[:n]
        out[u, : len(order)] = train.indices[start:end][order]
    return out


def split(data, cutoff: float) -> tuple[ScoreTable, sp.csr_matrix, sp.csr_matrix]:
    """The pipeline's view of the training part (aggregated, aged from the cutoff), the
    plain training matrix (for popularity and filtering), and the new-items test matrix."""
    before = data.times < cutoff
    users, items = IdIndex(np.arange(data.shape[0])), IdIndex(np.arange(data.shape[1]))
    table = aggregate(
        data.rows[before],
        data.cols[before],
        data.values[before],
        data.times[before],
        now=cutoff,
        users=users,
        items=items,
    )
    train, test = split_by_time(
        data.rows, data.cols, data.values, data.times, cutoff=cutoff, shape=data.shape
    )
    return table, train, test


def als_top(table: ScoreTable, params: als.AlsParams, *, exclude: sp.csr_matrix) -> np.ndarray:
    model = als.fit(table.matrix(half_life_days=params.half_life_days), params)
    return als.top_n(model, exclude, n=K)[0]


def tune(data, cutoff: float) -> tuple[als.AlsParams, list[tuple[als.AlsParams, float]]]:
    """Grid search on the validation month; the params with the best nDCG@10."""
    table, train, valid = split(data, cutoff)
    results = []
    for values in itertools.product(*GRID.values()):
        params = als.AlsParams(**dict(zip(GRID, values, strict=True)))
        top = als_top(table, params, exclude=train)
        results.append((params, ranking_metrics(top, valid, k=K)[f"ndcg@{K}"]))
    results.sort(key=lambda r: -r[1])
    return results[0][0], results


def row(name: str, m: dict) -> str:
    return (
        f"| {name} | {m[f'ndcg@{K}']:.4f} | {m[f'precision@{K}']:.4f} | {m[f'recall@{K}']:.4f} "
        f"| {m[f'hit_rate@{K}']:.4f} | {m['coverage']:.4f} | {int(m['users'])} |"
    )


HEADER = (
    "| model | nDCG@10 | precision@10 | recall@10 | hit rate@10 | coverage | users |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args()
    data = load(args.path)
    started = time.perf_counter()
    test_cutoff = epoch("2011-11-09")
    in_train = data.times < test_cutoff
    train_part = replace(
        data,
        rows=data.rows[in_train],
        cols=data.cols[in_train],
        values=data.values[in_train],
        times=data.times[in_train],
    )
    best, trials = tune(train_part, epoch("2011-10-09"))
    on_split, split_trials = tune(data, test_cutoff)
    defaults = als.AlsParams()

    table, train, test_new = split(data, test_cutoff)
    _, test_all = split_by_time(
        data.rows,
        data.cols,
        data.values,
        data.times,
        cutoff=test_cutoff,
        shape=data.shape,
        new_items_only=False,
    )
    nothing = sp.csr_matrix(train.shape, dtype=np.float32)
    popular = ranking_metrics(top_n_popular(train, n=K, exclude_seen=train), test_new, k=K)
    tuned = ranking_metrics(als_top(table, best, exclude=train), test_new, k=K)
    split_tuned = split_trials[0][1]
    default = ranking_metrics(als_top(table, defaults, exclude=train), test_new, k=K)
    plain = ranking_metrics(als_top(table, PLAIN, exclude=train), test_new, k=K)
    rebuy = {
        "ALS (tuned), nothing filtered": ranking_metrics(
            als_top(table, best, exclude=nothing), test_all, k=K
        ),
        "buy again": ranking_metrics(buy_again(train, K), test_all, k=K),
        "popularity, nothing filtered": ranking_metrics(top_n_popular(train, n=K), test_all, k=K),
    }
    seconds = time.perf_counter() - started
    top_trials = "\n".join(
        f"| {p.factors} | {p.regularization} | {p.alpha} | {p.half_life_days} | {score:.4f} |"
        for p, score in trials[:5]
    )
    write_section(
        "ALS quality on Online Retail (temporal split)",
        f"""
Machine: {machine()}. Date: {dt.date.today()}. Wall time of the whole script: {seconds:.0f} s.
Command: `.venv/bin/python bench/quality_online_retail.py` (data: the full UCI file; customers
only, no cancellations, quantity and price > 0; {data.shape[0]} users x {data.shape[1]} items).
Training: purchases before 2011-11-09, aggregated as the pipeline does (score 4 per order
line, ALS input log(1 + score) halved every `half_life_days` since the pair's last purchase);
test: purchases from 2011-11-09 on.

**Protocol 1: new items only, bought items filtered out (what `top_buys` serves).**

{HEADER}
{row("popularity (distinct buyers)", popular)}
{row(f"ALS, tuned on the validation month {best.as_dict()}", tuned)}
{row(f"ALS, shipped defaults {defaults.as_dict()}", default)}
{row(f"ALS without recency, first defaults {PLAIN.as_dict()}", plain)}

ALS / popularity nDCG@10: shipped defaults **{default[f"ndcg@{K}"] / popular[f"ndcg@{K}"]:.2f}x**,
tuned on the validation month **{tuned[f"ndcg@{K}"] / popular[f"ndcg@{K}"]:.2f}x** (target >= 2.5x).
The shipped defaults are the best of the same grid tuned on this split itself, as the issue
asks ("tune the defaults on this split"): {on_split.as_dict()}, nDCG@10 {split_tuned:.4f}.
Chosen without the test month, the parameters land a little lower; both are stated.

Tuning: grid {GRID} on a validation month cut from the training part (train before
2011-10-09, validate 2011-10-09 .. 2011-11-08); the five best by validation nDCG@10:

| factors | regularization | alpha | half-life days | validation nDCG@10 |
| ---: | ---: | ---: | ---: | ---: |
{top_trials}

**Protocol 2: rebuys count, nothing filtered.**

{HEADER}
{chr(10).join(row(name, m) for name, m in rebuy.items())}
""",
    )


if __name__ == "__main__":
    main()
