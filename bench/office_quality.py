"""The annotation-quality dev set, end to end: induce a taxonomy, label every Office item, NMI.

Builds its own store (items only, no interactions): domain `office` = the 2,000 items of
../shared/data/amazon-office-items-dev (titles only; the answer key `truth_office.csv.gz` is read
only by the scoring step at the end, never by a prompt), paired with `kitchen` = --pair-items
kitchen titles of ../shared/data/food-kitchen-min4 so the induced categories are domain-agnostic.
Then: `taxonomy induce --method facets` (or --method propose; bundled SmolLM2 unless --model),
`annotate --method score --no-describe` over every office item (or `--distill N`), and the NMI table per category
beside k-means(MiniLM) at the same k. Stage times, CPU and threads are printed and saved (--out).

    .venv/bin/python bench/office_quality.py --db office.db --out bench/results/office.json
        [--control-kind "Pens,Paper,Ink Cartridges,..."]   # the labeller alone, with hand-written Kind names
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
SHARED = ROOT.parent / "shared" / "data"
OFFICE = SHARED / "amazon-office-items-dev"
KITCHEN = SHARED / "food-kitchen-min4" / "items_kitchen.csv.gz"


def read_csv(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def build_store(db: Path, pair_items: int):
    from semacdr_cli.store import Store
    from semacdr_cli.store.interactions import create_items_dataset, dataset_id

    store = Store(db)
    if dataset_id(store, "office-dev") is not None:
        return store
    office = read_csv(OFFICE / "items_office.csv.gz")
    kitchen = read_csv(KITCHEN)[:pair_items]
    create_items_dataset(
        store, "office-dev",
        {"office": [(r["item"], r["title"]) for r in office], "kitchen": [(r["item"], r["title"]) for r in kitchen]},
        source=str(OFFICE), params={"pair_items": pair_items},
    )  # fmt: skip
    return store


def control_kind(store, ds: int, backend, a, truth: dict) -> dict:
    """The labeller alone: the induced taxonomy with its Kind category's subcategories replaced by
    hand-written names (`--control-kind`), every office item labelled again the same way, NMI table.
    If good names do not lift Kind's NMI, the names were not what held it back."""
    from annotation_quality import print_table

    from semacdr_cli.annotate.domain import annotate_domain
    from semacdr_cli.config import AnnotateConfig
    from semacdr_cli.labels.quality import quality_table
    from semacdr_cli.store import semantic as sem

    names = [n.strip() for n in a.control_kind.split(",") if n.strip()]
    tree = sem.taxonomy_tree(store, sem.get_taxonomy(store, ds)["id"])
    cats = [{"name": c["name"], "subcategories": names if c["name"] == "Kind" else [x["name"] for x in c["subcategories"]]}
            for c in tree]  # fmt: skip
    _, version = sem.insert_taxonomy(store, ds, cats, origin="imported", domains=["office", "kitchen"],
                                     params={"control": "Kind names written by hand (bench/office_quality.py)"})  # fmt: skip
    t = time.perf_counter()
    annotate_domain(store, ds, backend, AnnotateConfig(domain="office", describe=False, distill=a.distill,
                                                       batch_size=64, taxonomy_version=version))  # fmt: skip
    res = quality_table(store, ds, "office", truth, taxonomy_version=version)
    print(f"\ncontrol: Kind = {', '.join(names)} (taxonomy v{version}, {time.perf_counter() - t:.0f} s)")
    print_table(res)
    return {"kind_names": names, **res}


def describe_rate(store, ds: int, backend, n: int) -> dict:
    """Descriptions/s as the annotate job asks for them (ScoreLabeler.describe: one request per item,
    garbage asked again once) over the first `n` office items; answers already cached are not counted."""
    from semacdr_cli.annotate.item_text import item_text
    from semacdr_cli.annotate.score import ScoreLabeler
    from semacdr_cli.annotate.summary import AnnotateSummary
    from semacdr_cli.config import AnnotateConfig
    from semacdr_cli.store import semantic as sem

    dom = store.domain(ds, "office")
    tax = sem.get_taxonomy(store, ds)
    summary = AnnotateSummary(
        domain="office", taxonomy_version=tax["version"], model=backend.model, backend=backend.name
    )
    labeler = ScoreLabeler(store, tax, sem.taxonomy_tree(store, tax["id"]), backend,
                           AnnotateConfig(domain="office", describe=True), summary, dom["id"])  # fmt: skip
    rows = sem.items_by_ids(store, sem.domain_item_ids(store, dom["id"])[:n])
    got = labeler.describe([item_text(r) for r in rows])
    summary.finish_llm_rates()  # time inside the LLM's generate calls
    return {
        "described": sum(d is not None for d, _ in got),
        "describe_requests": summary.describe_requests,
        "describe_seconds": summary.describe_seconds,
        "described_per_s": summary.described_per_s,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", default="office-dev.db")
    p.add_argument("--model", default=None)
    p.add_argument("-K", type=int, default=7)
    p.add_argument("--sample", type=int, default=60, help="items sampled per domain for induction")
    p.add_argument("--clusters", type=int, default=None)
    p.add_argument(
        "--method", default="facets", choices=["facets", "propose"], help="taxonomy induction method"
    )
    p.add_argument("--pair-items", type=int, default=2000)
    p.add_argument("--distill", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--describe", type=int, default=20, help="time descriptions of this many office items (0: none)"
    )
    p.add_argument("--out", default=None)
    p.add_argument(
        "--control-kind",
        default=None,
        help="comma-separated hand-written names: also label the items with the induced taxonomy's Kind "
        "category replaced by these (a control that measures the labeller alone, stored as an imported version)",
    )
    a = p.parse_args()
    import torch
    from annotation_quality import print_table, read_truth

    from semacdr_cli.annotate.domain import annotate_domain
    from semacdr_cli.config import AnnotateConfig, TaxonomyConfig
    from semacdr_cli.labels.quality import quality_table
    from semacdr_cli.llm import get_backend
    from semacdr_cli.machine import cpu_model
    from semacdr_cli.store import semantic as sem
    from semacdr_cli.taxonomy.induce import induce_taxonomy

    times = {}
    t0 = time.perf_counter()
    store = build_store(Path(a.db), a.pair_items)
    from semacdr_cli.store.interactions import dataset_id

    ds = dataset_id(store, "office-dev")
    backend = get_backend("transformers", model=a.model, batch_size=a.batch_size)
    times["load"] = round(time.perf_counter() - t0, 1)
    t = time.perf_counter()
    if not sem.taxonomy_versions(store, ds):
        induce_taxonomy(store, ds, backend, TaxonomyConfig(source="office", target="kitchen", k=a.K, sample=a.sample,
                                                           method=a.method, clusters=a.clusters,
                                                           batch_size=a.batch_size))  # fmt: skip
    times["taxonomy"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    s = annotate_domain(store, ds, backend, AnnotateConfig(domain="office", describe=False, distill=a.distill,
                                                           batch_size=64))  # fmt: skip
    times["annotate"] = round(time.perf_counter() - t, 1)
    truth = read_truth(str(OFFICE / "truth_office.csv.gz"), "item", "category")
    res = quality_table(store, ds, "office", truth)
    tax = sem.taxonomy_tree(store, sem.get_taxonomy(store, ds)["id"])
    rates = {"llm_scored": s.scored, "llm_scored_per_s": s.scored_per_s}
    if a.describe:
        rates.update(describe_rate(store, ds, backend, a.describe))
    res.update({"model": backend.model, "cpu": cpu_model(), "threads": torch.get_num_threads(), "stage_seconds": times,
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                "annotate": {"items_per_s": s.items_per_s, "labels_per_item": s.labels_per_item,
                             "distilled": s.distilled, "guard": s.guard, **rates},
                "taxonomy": [{"name": c["name"], "subcategories": [x["name"] for x in c["subcategories"]]} for c in tax],
                "readme_anchors": {"5": 0.388, "7": 0.384, "10": 0.432, "15": 0.482}})  # fmt: skip
    for c in res["taxonomy"]:
        print(f"{c['name']}: {', '.join(c['subcategories'])}")
    print_table(res)
    print(
        f"stages {times}; annotate {s.items_per_s} items/s, {s.labels_per_item} labels/item; guard {s.guard}; "
        f"LLM {rates}; peak RSS {res['peak_rss_mb']} MB; {res['model']}; CPU {res['cpu']}, {res['threads']} threads"
    )
    if a.control_kind:
        res["control"] = control_kind(store, ds, backend, a, truth)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
