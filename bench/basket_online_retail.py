"""FP-Growth on Online Retail invoices: Picks' `basket.mine` against mlxtend called directly.

    .venv/bin/python bench/basket_online_retail.py [PATH] [--min-support 0.01 0.005]

Each side runs in its own child process so that its peak RSS is its own. "Direct" is what the
mlxtend docs show: TransactionEncoder over every item, a sparse frame, fpgrowth,
association_rules. Picks drops items that cannot be frequent before encoding.
"""

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import machine, peak_rss_mb, write_section
from online_retail import DEFAULT_PATH, load


def baskets(path: Path) -> list[list[int]]:
    data = load(path)
    order = np.argsort(data.invoices, kind="stable")
    invoices, items = data.invoices[order], data.cols[order]
    splits = np.flatnonzero(np.diff(invoices)) + 1
    return [sorted(set(part.tolist())) for part in np.split(items, splits)]


def run_direct(all_baskets: list, min_support: float) -> dict:
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth
    from mlxtend.preprocessing import TransactionEncoder

    started = time.perf_counter()
    encoder = TransactionEncoder().fit(all_baskets)
    frame = pd.DataFrame.sparse.from_spmatrix(
        encoder.transform(all_baskets, sparse=True), columns=[str(c) for c in encoder.columns_]
    )
    encoded = time.perf_counter()
    itemsets = fpgrowth(frame, min_support=min_support, use_colnames=True)
    rules = association_rules(
        itemsets, num_itemsets=len(all_baskets), metric="confidence", min_threshold=0.2
    )
    rules = rules[rules["consequents"].map(len) == 1]
    return {
        "seconds": time.perf_counter() - started,
        "fpgrowth_seconds": time.perf_counter() - encoded,
        "columns": frame.shape[1],
        "itemsets": len(itemsets),
        "rules": len(rules),
    }


def run_ours(all_baskets: list, min_support: float) -> dict:
    from recommendations.ml.basket import BasketParams, frequent_items, mine

    started = time.perf_counter()
    mined = mine(all_baskets, BasketParams(min_support=min_support, min_confidence=0.2, min_lift=0))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "columns": len(frequent_items(all_baskets, min_support=min_support)),
        "itemsets": len(mined.itemsets),
        "rules": len(mined.rules),
    }


def child(side: str, path: Path, min_support: float) -> dict:
    """Run one side in a fresh interpreter; its result and peak RSS come back."""
    done = subprocess.run(
        [sys.executable, __file__, str(path), "--side", side, "--min-support", str(min_support)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--min-support", type=float, nargs="+", default=[0.02, 0.01])
    parser.add_argument("--side", choices=["direct", "ours"])
    args = parser.parse_args()
    if args.side:
        all_baskets = baskets(args.path)
        run = run_direct if args.side == "direct" else run_ours
        result = run(all_baskets, args.min_support[0])
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb(), "baskets": len(all_baskets)}))
        return
    lines = []
    for support in args.min_support:
        direct, ours = child("direct", args.path, support), child("ours", args.path, support)
        assert (direct["itemsets"], direct["rules"]) == (ours["itemsets"], ours["rules"])
        lines.append(
            f"| {support} | {direct['baskets']} | {direct['columns']} / {ours['columns']} "
            f"| {direct['itemsets']} | {direct['rules']} "
            f"| {direct['seconds']:.2f} ({direct['fpgrowth_seconds']:.2f}) | {ours['seconds']:.2f} "
            f"| {ours['seconds'] / direct['seconds']:.2f} "
            f"| {direct['peak_rss_mb']:.0f} | {ours['peak_rss_mb']:.0f} |"
        )
    supports = " ".join(map(str, args.min_support))
    write_section(
        "FP-Growth on Online Retail",
        f"""
Machine: {machine()}. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/basket_online_retail.py --min-support {supports}`
(baskets = invoices of customers, no cancellations, quantity and price > 0; confidence >= 0.2;
rules with one item on the right). Peak RSS includes reading the CSV with pandas (same for both).
Both sides find the same itemsets and rules (checked).

| min support | baskets | one-hot columns (direct / Picks) | itemsets | rules \
| direct s (fpgrowth+rules only) | Picks s | ratio | direct peak MB | Picks peak MB |
| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
{chr(10).join(lines)}

Target: Picks <= 1.0x the direct time, <= 2 GB peak.
""",
    )


if __name__ == "__main__":
    main()
