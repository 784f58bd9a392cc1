"""Time `import_orders` on the full UCI Online Retail file into a fresh PostgreSQL database.

.venv/bin/python bench/import_orders.py [PATH]   (default ../shared/data/online_retail/...)
"""

import argparse
import datetime as dt
from pathlib import Path

from common import SHARED_DATA, fresh_database, machine, manage, write_section

TARGET_SECONDS, TARGET_RSS_MB = 90, 1024


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

First run: {summary}
""",
    )


if __name__ == "__main__":
    main()
