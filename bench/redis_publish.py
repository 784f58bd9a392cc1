"""Write speed of versioned list publishing into Redis, against a bare redis-py MSET.

    .venv/bin/python bench/redis_publish.py [--lists 200000] [--length 100]

Both write the same packed bytes to the local Redis under a bench prefix that is deleted
afterwards. Picks' path adds the version bookkeeping and the pointer switch.
"""

import argparse
import datetime as dt
import time

import numpy as np
from common import django_setup, machine, write_section

django_setup(database_url="sqlite:///:memory:")

from recommendations import store  # noqa: E402  (Django must be set up first)


def bare(owners: np.ndarray, ids: np.ndarray, scores: np.ndarray, batch: int = 2000) -> float:
    """redis-py alone: MSET of the same packed values, in pipelined batches."""
    redis = store.client()
    records = np.empty(ids.shape, dtype=store.RECORD)
    records["item"], records["score"] = ids, scores
    started = time.perf_counter()
    pipe = redis.pipeline(transaction=False)
    for start in range(0, len(owners), batch):
        chunk = {
            f"picks-bench:bare:{owner}": row.tobytes()
            for owner, row in zip(
                owners[start : start + batch].tolist(), records[start : start + batch], strict=True
            )
        }
        pipe.mset(chunk)
        pipe.execute()
    return time.perf_counter() - started


def ours(owners: np.ndarray, ids: np.ndarray, scores: np.ndarray) -> float:
    started = time.perf_counter()
    with store.publishing(store.TOP_BUYS) as publication:
        publication.put_rows(owners, ids, scores)
        publication.commit(built_at="bench")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lists", type=int, default=200_000)
    parser.add_argument("--length", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    owners = np.arange(args.lists, dtype=np.int64)
    ids = rng.integers(0, 20_000, (args.lists, args.length))
    scores = rng.random((args.lists, args.length)).astype(np.float32)
    try:
        bare_s = bare(owners, ids, scores)
        ours_s = ours(owners, ids, scores)
        second_s = ours(owners, ids, scores)  # also deletes nothing yet: keeps one for rollback
    finally:
        store.delete_prefix()
    mb = args.lists * args.length * store.RECORD.itemsize / 1e6
    write_section(
        f"Publishing lists into Redis ({args.length} entries per list)",
        f"""
Machine: {machine()}; Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/redis_publish.py --lists {args.lists} --length {args.length}`
({args.lists} lists of {args.length} entries, {mb:.0f} MB packed).

| writer | seconds | keys/s | ratio to bare |
| --- | ---: | ---: | ---: |
| bare redis-py pipelined MSET | {bare_s:.2f} | {args.lists / bare_s:,.0f} | 1.00 |
| Picks: publishing + put_rows + commit | {ours_s:.2f} | {args.lists / ours_s:,.0f} \
| {ours_s / bare_s:.2f} |
| Picks, second version (first kept for rollback) | {second_s:.2f} \
| {args.lists / second_s:,.0f} | {second_s / bare_s:.2f} |
""",
    )


if __name__ == "__main__":
    main()
