"""Do the labels carry information? NMI per category against an answer key, beside k-means(MiniLM).

    # the demo: the planted theme of each item (from the generator; never in a prompt)
    .venv/bin/python bench/annotation_quality.py --db demo-out/annotations.db --domain book --demo-themes
    # any answer key: a CSV with the item id and a class column
    .venv/bin/python bench/annotation_quality.py --db office.db --domain office --truth truth.csv.gz --column category

Prints one row per taxonomy category: subcategories (k), how many are used, share of items
labelled, NMI of the primary label, and the anchor k-means(MiniLM, same k) NMI. `--json` for machines.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def read_truth(path: str, id_column: str, column: str) -> dict[str, str]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", newline="") as f:
        return {row[id_column]: row[column] for row in csv.DictReader(f) if row.get(column)}


def print_table(res: dict) -> None:
    print(
        f"{res['domain']}: {res['items']} items, {res['classes']} classes, taxonomy v{res['taxonomy_version']} "
        f"({res['taxonomy_origin']}), methods {res['methods']}"
    )
    print(f"{'category':24} {'k':>3} {'used':>4} {'labelled':>8} {'NMI':>7} {'kmeans NMI':>10}")
    for r in res["per_category"]:
        km = "-" if r["kmeans_nmi"] is None else f"{r['kmeans_nmi']:.4f}"
        print(
            f"{r['category'][:24]:24} {r['k']:>3} {r['used']:>4} {r['labelled']:>8.2f} {r['nmi']:>7.4f} {km:>10}"
        )
    for method, part in (res.get("by_method") or {}).items():  # what distillation costs
        cells = ", ".join(
            f"{r['category']} {r['nmi']:.3f}"
            + ("" if r["kmeans_nmi"] is None else f" (k-means {r['kmeans_nmi']:.3f})")
            for r in sorted(part["per_category"], key=lambda r: -r["nmi"])[:3]
        )
        print(f"  {method} only, {part['items']} items: {cells}")


def main() -> None:
    from semacdr_cli.labels.quality import quality_table
    from semacdr_cli.store import Store

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True)
    p.add_argument("--dataset", default=None)
    p.add_argument("--domain", required=True)
    p.add_argument("--taxonomy-version", type=int, default=None)
    p.add_argument("--truth", help="CSV(.gz) answer key")
    p.add_argument("--id-column", default="item")
    p.add_argument("--column", default="category")
    p.add_argument("--demo-themes", action="store_true", help="the demo generator's planted themes")
    p.add_argument("--no-anchor", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    with Store(a.db, create=False) as store:
        ds = store.dataset(a.dataset)
        if a.demo_themes:
            from semacdr_cli.datasets.demo import planted_theme
            from semacdr_cli.store import semantic as sem

            ids = [
                r["external_id"]
                for r in sem.items_by_ids(
                    store, sem.domain_item_ids(store, store.domain(ds["id"], a.domain)["id"])
                )
            ]
            truth = {i: planted_theme(i) for i in ids if planted_theme(i)}
        elif a.truth:
            truth = read_truth(a.truth, a.id_column, a.column)
        else:
            raise SystemExit("give --truth FILE or --demo-themes")
        res = quality_table(store, ds["id"], a.domain, truth, a.taxonomy_version, anchors=not a.no_anchor)
    print(json.dumps(res, indent=2) if a.json else "", end="")
    if not a.json:
        print_table(res)


if __name__ == "__main__":
    main()
