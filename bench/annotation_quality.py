"""Agreement between assigned subcategories and a ground-truth attribute: NMI and purity per category.

For the ok annotations of one domain (a taxonomy version, default latest), each item's cluster
under category C is its first (primary) subcategory of C. The ground truth is, per item:
`--attribute theme`: `items.raw["theme"]` (the planted theme of `semacdr data demo`);
`--attribute category`: level `--level` of the `items.categories` path (e.g. Amazon category paths);
`auto` (default): theme when present, else the category path.
NMI = sklearn normalized_mutual_info_score; purity = sum over clusters of the largest true class,
divided by n. The baseline row "majority" shows purity of one cluster.

    .venv/bin/python bench/annotation_quality.py --db demo.db --domain book
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict


def ground_truth(row, attribute: str, level: int) -> str | None:
    if attribute in ("theme", "auto") and row["raw"]:
        try:
            raw = json.loads(row["raw"])
        except json.JSONDecodeError:
            raw = {}
        if isinstance(raw, dict) and raw.get("theme"):
            return str(raw["theme"])
    if attribute in ("category", "auto") and row["categories"]:
        path = json.loads(row["categories"])
        if path and isinstance(path[0], list):
            path = path[0]
        if isinstance(path, list) and len(path) > level:
            return str(path[level])
    return None


def purity(pred: list[str], true: list[str]) -> float:
    by = defaultdict(Counter)
    for p, t in zip(pred, true, strict=True):
        by[p][t] += 1
    return sum(c.most_common(1)[0][1] for c in by.values()) / len(pred)


def main() -> None:
    from sklearn.metrics import normalized_mutual_info_score

    from semacdr_cli.store import Store
    from semacdr_cli.store import semantic as sem

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", required=True)
    p.add_argument("--dataset", default=None)
    p.add_argument("--domain", required=True)
    p.add_argument("--taxonomy-version", type=int, default=None)
    p.add_argument("--attribute", choices=["auto", "theme", "category"], default="auto")
    p.add_argument("--level", type=int, default=1, help="category path level (0 = the top)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    store = Store(args.db, create=False)
    ds = store.dataset(args.dataset)
    dom = store.domain(ds["id"], args.domain)
    tax = sem.get_taxonomy(store, ds["id"], args.taxonomy_version)
    rows = store.query(
        "SELECT a.labels, i.raw, i.categories FROM annotations a JOIN items i ON i.id = a.item_id "
        "WHERE i.domain_id = ? AND a.taxonomy_id = ? AND a.status = 'ok'",
        (dom["id"], tax["id"]),
    )
    pairs = [(json.loads(r["labels"]), ground_truth(r, args.attribute, args.level)) for r in rows]
    pairs = [(lab, t) for lab, t in pairs if t is not None]
    if not pairs:
        raise SystemExit("no annotated item carries a ground-truth attribute (theme or category path)")
    truth = [t for _, t in pairs]
    results = []
    for cat in [c["name"] for c in sem.taxonomy_tree(store, tax["id"])]:
        pred = [lab.get(cat, ["-"])[0] for lab, _ in pairs]
        results.append({
            "category": cat,
            "clusters": len(set(pred)),
            "nmi": round(float(normalized_mutual_info_score(truth, pred)), 4),
            "purity": round(purity(pred, truth), 4),
        })  # fmt: skip
    results.append({"category": "majority (baseline)", "clusters": 1, "nmi": 0.0, "purity": round(purity(["x"] * len(truth), truth), 4)})
    out = {"domain": args.domain, "taxonomy_version": tax["version"], "items": len(pairs),
           "classes": len(set(truth)), "per_category": results}  # fmt: skip
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{args.domain}: {len(pairs)} items, {len(set(truth))} true classes, taxonomy v{tax['version']}")
    print(f"{'category':30} {'clusters':>8} {'NMI':>7} {'purity':>7}")
    for r in results:
        print(f"{r['category'][:30]:30} {r['clusters']:>8} {r['nmi']:>7.4f} {r['purity']:>7.4f}")


if __name__ == "__main__":
    main()
