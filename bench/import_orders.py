"""Time `import_orders` on the full UCI Online Retail file into a fresh PostgreSQL database,
then again (adds nothing), then the same file with 1 % garbage lines mixed in, into another
fresh database (every good row must still arrive, every garbage line be reported).

.venv/bin/python bench/import_orders.py [PATH]   (default ../shared/data/online_retail/...)
"""

import argparse
import datetime as dt
import gzip
import random
import re
import subprocess
import tempfile
from pathlib import Path

from common import PG_SERVER, SHARED_DATA, fresh_database, machine, manage, write_section

TARGET_SECONDS, TARGET_RSS_MB = 90, 1024
GARBAGE_SHARE = 0.01


def with_garbage(path: Path, out: Path, *, share: float, seed: int = 1) -> int:
    """Copy the CSV with `share` of its row count in damaged lines inserted at random places."""
    rng = random.Random(seed)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        header, *rows = f.read().splitlines()
    kinds = [
        lambda: "".join(chr(rng.randrange(32, 127)) for _ in range(rng.randrange(1, 80))),
        lambda: '536999,"UNCLOSED QUOTE,6,2010-12-01 08:26:00,2.55,17850,United Kingdom',
        lambda: "\x00\x01" + "x" * rng.randrange(50),
        lambda: ",,,,,,,",
        lambda: "536999,85123A,HEART,six,2010-12-01 08:26:00,2.55,17850,United Kingdom",
    ]
    count = round(len(rows) * share)
    for _ in range(count):
        rows.insert(rng.randrange(len(rows) + 1), rng.choice(kinds)())
    with gzip.open(out, "wt", encoding="utf-8", newline="") as f:
        f.write("\n".join([header, *rows]) + "\n")
    return count


def created(output: str) -> str:
    return re.search(r"new: (orders=\d+, order_lines=\d+)", output).group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "path", nargs="?", type=Path, default=SHARED_DATA / "online_retail" / "online_retail.csv.gz"
    )
    args = parser.parse_args()
    if not args.path.is_file():
        raise SystemExit(f"no data at {args.path}: pass the Online Retail CSV path")
    url = fresh_database("picks_bench_import")
    first = manage("import_orders", str(args.path.resolve()), database_url=url)
    again = manage("import_orders", str(args.path.resolve()), database_url=url)
    summary = next(line for line in first.output.splitlines() if line.startswith("rows read"))
    with tempfile.TemporaryDirectory() as tmp:
        damaged = Path(tmp) / "online_retail_garbage.csv.gz"
        junk = with_garbage(args.path, damaged, share=GARBAGE_SHARE)
        garbage_url = fresh_database("picks_bench_import_garbage")
        dirty = manage("import_orders", str(damaged), database_url=garbage_url)
    subprocess.run(
        ["psql", f"{PG_SERVER}/postgres", "-qc",
         'DROP DATABASE IF EXISTS "picks_bench_import_garbage" WITH (FORCE)'],
        check=True,
    )  # fmt: skip
    bad = int(re.search(r"bad rows: (\d+)", dirty.output).group(1))
    same = created(dirty.output) == created(first.output)
    write_section(
        "import_orders on Online Retail",
        f"""
Machine: {machine()}; PostgreSQL 15 on 127.0.0.1. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/import_orders.py` (imports into a fresh database, then again).

| run | wall time | peak RSS | target |
| --- | ---: | ---: | --- |
| first import | {first.seconds:.1f} s | {first.peak_rss_mb:.0f} MB | \
≤ {TARGET_SECONDS} s, ≤ {TARGET_RSS_MB} MB |
| rerun of the same file (adds nothing) | {again.seconds:.1f} s | {again.peak_rss_mb:.0f} MB | |
| the file with {junk:,} garbage lines ({GARBAGE_SHARE:.0%}) mixed in, fresh database | \
{dirty.seconds:.1f} s | {dirty.peak_rss_mb:.0f} MB | |

First run: {summary}

With garbage: {bad:,} bad rows reported (of {junk:,} inserted), and the orders and lines
created {"match the clean import exactly" if same else "DIFFER from the clean import"}
({created(dirty.output)}).
""",
    )


if __name__ == "__main__":
    main()
