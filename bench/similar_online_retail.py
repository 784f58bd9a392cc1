"""Similar items on Online Retail: do neighbours share description words with the product, or
get bought with it, more often than random items do?

    .venv/bin/python bench/similar_online_retail.py [--database picks_bench_import]

Uses the database that bench/import_orders.py and bench/als_path.py filled (Online Retail
orders, a served ALS model), runs generate_similar_items, and compares, for every product,
its top 10 neighbours with 10 random other products.
"""

import argparse
import datetime as dt
import re

import numpy as np
import scipy.sparse as sp
from common import PG_SERVER, database_exists, django_setup, machine, write_section

K = 10
STOP = {"set", "of", "the", "and", "with", "in", "for", "a"}


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]{3,}", text.lower()) if w not in STOP}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="picks_bench_import")
    args = parser.parse_args()
    if not database_exists(args.database):
        raise SystemExit(
            f"no database {args.database}: run bench/import_orders.py and bench/als_path.py"
        )
    django_setup(database_url=f"{PG_SERVER}/{args.database}")
    from catalog.models import Item
    from recommendations import store
    from recommendations.models import OrderLine
    from recommendations.services.precompute.similar import generate_similar_items
    from recommendations.services.training.model_runs import served_run

    if served_run("als") is None:
        raise SystemExit("no served ALS model: run bench/als_path.py first")
    generate_similar_items(n=K)
    titles = dict(Item.objects.values_list("pk", "title"))
    ids = np.array(sorted(titles))
    index = {pk: n for n, pk in enumerate(ids)}
    lines = np.array(
        list(OrderLine.objects.filter(quantity__gt=0).values_list("order_id", "item_id"))
    )
    orders = np.unique(lines[:, 0], return_inverse=True)[1].ravel()
    cols = np.array([index[i] for i in lines[:, 1]])
    bought = sp.csr_matrix(
        (np.ones(len(lines)), (cols, orders)), shape=(len(ids), orders.max() + 1)
    )
    together = (bought @ bought.T).tocsr()
    invoices = bought.shape[1]
    frequency = np.asarray((bought > 0).sum(axis=1)).ravel()
    rng = np.random.default_rng(0)
    # pairs, sharing a word, bought together, sum of co-purchase lift
    stats = {"similar": [0, 0, 0, 0.0], "random": [0, 0, 0, 0.0]}
    products = 0
    for pk in ids.tolist():
        page = store.read_page([(store.SIMILAR, pk)], want=K, stored=K)
        neighbours = [e.item_id for e in page.entries]
        if not neighbours:
            continue
        products += 1
        others = rng.choice(ids[ids != pk], len(neighbours), replace=False).tolist()
        for name, group in (("similar", neighbours), ("random", others)):
            for other in group:
                stats[name][0] += 1
                stats[name][1] += bool(words(titles[pk]) & words(titles[other]))
                a, b = index[pk], index[other]
                stats[name][2] += together[a, b] > 0
                expected = frequency[a] * frequency[b] / invoices
                stats[name][3] += together[a, b] / expected if expected else 0.0
    store.delete_prefix()
    rows = []
    for name, (pairs, shared, co, lift) in stats.items():
        rows.append(
            f"| {name} | {pairs} | {shared / pairs:.1%} | {co / pairs:.1%} | {lift / pairs:.2f} |"
        )
    s, r = stats["similar"], stats["random"]
    write_section(
        "Similar items on Online Retail",
        f"""
Machine: {machine()}. Date: {dt.date.today()}.
Command: `.venv/bin/python bench/similar_online_retail.py` (ALS item factors blended half and
half with content: description TF-IDF and price band; Online Retail has no category, brand or
colour). For each of {products} products, its top {K} similar items against {K} random others.
Measures: the share of pairs whose descriptions share a word (3+ letters, a few stop words
left out); the share of pairs bought in the same invoice at least once; and the co-purchase
lift (invoices holding both / the count expected if they were independent; 1 = chance).
With 20-line baskets even random pairs often meet once; lift corrects for how common each is.

| pairs | count | share a description word | bought together at least once | co-purchase lift |
| --- | ---: | ---: | ---: | ---: |
{chr(10).join(rows)}

Similar over random: {s[1] / s[0] / (r[1] / r[0]):.1f}x for shared words,
{s[3] / s[0] / max(r[3] / r[0], 1e-9):.1f}x for co-purchase lift.
""",
    )


if __name__ == "__main__":
    main()
