"""What a publish's sweep of old versions costs on a big store: the 1M shop's Redis after
`bench/million.py steady` (its prefix), read only, nothing deleted.

    .venv/bin/python bench/publish_sweep.py [--database picks_bench_million] [--repeats 3]

Three ways over the same keys, alternating: the sweep as it was (one SCAN over every versioned
key, each name read and parsed here), the sweep as it is (one SCAN per doomed version that
Redis filters, so only that version's names come back; timed for a version with no keys, i.e.
without the UNLINKs both ways share), and a bare SCAN of every key (nothing parsed).
"""

import argparse
import datetime as dt
import os
import time
from pathlib import Path
from statistics import median

from common import PG_SERVER, django_setup, machine, write_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="picks_bench_million")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    prefix = f"picks-bench-{args.database}"
    django_setup(database_url=f"{PG_SERVER}/{args.database}", redis_prefix=prefix)
    from recommendations import store
    from recommendations.store import keys
    from recommendations.store.publishing import _sweep, _unlink_version

    redis = store.client()
    absent = int(redis.get(keys.version_seq()) or 0) + 1_000_000  # a version with no keys

    def old() -> None:
        _sweep(lambda version: False)

    def new() -> None:
        _unlink_version(absent, {store.TOP_BUYS})  # the sweep's own call; nothing to delete

    def bare() -> None:
        for _ in redis.scan_iter(match=keys.everything(), count=5000):
            pass

    timings: dict[str, list[float]] = {"old": [], "new": [], "bare": []}
    for _ in range(args.repeats):
        for name, run in (("old", old), ("new", new), ("bare", bare)):
            start = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - start)
    versioned = sum(1 for _ in redis.scan_iter(match=keys.version_patterns()[0], count=5000))
    old_s, new_s, bare_s = (median(timings[k]) for k in ("old", "new", "bare"))
    write_section(
        "A publish's sweep of old versions at a million users",
        f"""
Machine: {machine()}; Redis 7 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/publish_sweep.py --database {args.database}` on the 1M shop's
Redis after `bench/million.py steady` ({redis.dbsize():,} keys under all prefixes,
{versioned:,} versioned keys of this shop; Redis used memory
{redis.info("memory")["used_memory"] / 2**30:.1f} GiB). Medians of {args.repeats} alternating
runs, seconds; read only (the doomed version timed has no keys, so no UNLINK is counted).

| sweep | seconds | / bare SCAN |
| --- | ---: | ---: |
| before: one SCAN, every versioned key's name read and parsed here | {old_s:.2f} \
| {old_s / bare_s:.2f} |
| now: one SCAN per doomed version, filtered by Redis | {new_s:.2f} | {new_s / bare_s:.2f} |
| bare SCAN of every key, nothing parsed (baseline) | {bare_s:.2f} | 1.00 |

A steady run publishes seven families; each publish swept once.
""",
    )


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()
