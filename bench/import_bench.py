"""Import throughput: a generated 1,000,000-review Amazon 2018-format pair of domains, and the
shared Food-Kitchen folder.

    .venv/bin/python bench/import_bench.py [--reviews 1000000] [--keep DIR]

Prints reviews/s and the peak RSS of the import (measured in a child process, so generating the
files does not count). Targets on the 2-core dev machine: >= 50,000 reviews/s, peak RSS < 1 GB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOOD_KITCHEN = ROOT.parent / "shared" / "data" / "amazon-food-kitchen"


def generate(out: Path, n_reviews: int, seed: int = 0) -> list[Path]:
    """Two domains of 2018-format reviews (gzip JSON lines) + metadata, about 8 reviews per user
    and domain, Zipf-like item popularity; written in chunks so memory stays flat."""
    rng = random.Random(seed)
    per_domain = n_reviews // 2
    n_users = max(per_domain // 8, 10)
    n_items = max(per_domain // 40, 20)
    paths = []
    for d, cat in enumerate(("Grocery_and_Gourmet_Food", "Home_and_Kitchen")):
        reviews, meta = out / f"{cat}.json.gz", out / f"meta_{cat}.json.gz"
        weights = [1.0 / (k + 1) ** 0.8 for k in range(n_items)]
        with gzip.open(reviews, "wt", compresslevel=1, encoding="utf-8") as f:
            written = 0
            while written < per_domain:
                chunk = min(50_000, per_domain - written)
                users = [rng.randrange(n_users) for _ in range(chunk)]
                items = rng.choices(range(n_items), weights=weights, k=chunk)
                lines = []
                for u, i in zip(users, items, strict=True):
                    lines.append(
                        json.dumps(
                            {
                                "overall": float(rng.randint(1, 5)),
                                "verified": True,
                                "reviewTime": "01 1, 2016",
                                "reviewerID": f"A{u:012d}",
                                "asin": f"B{d}{i:08d}",
                                "reviewerName": "Some Body",
                                "reviewText": "Works as described, would buy again. " * 3,
                                "summary": "Good",
                                "unixReviewTime": 1_400_000_000 + rng.randrange(200_000_000),
                            }
                        )
                    )
                f.write("\n".join(lines) + "\n")
                written += chunk
        with gzip.open(meta, "wt", compresslevel=1, encoding="utf-8") as f:
            for i in range(n_items):
                f.write(
                    json.dumps(
                        {
                            "asin": f"B{d}{i:08d}",
                            "title": f"Product {i} of {cat}",
                            "brand": "Acme",
                            "category": [cat.replace("_", " "), "Misc"],
                            "description": ["A useful product."],
                            "also_buy": [f"B{d}{(i + k) % n_items:08d}" for k in range(1, 6)],
                        }
                    )
                    + "\n"
                )
        paths += [reviews, meta]
    return paths


def child(db: str, fmt: str, paths: list[str], domains: list[str]) -> None:
    from semacdr_cli.ingest import import_dataset
    from semacdr_cli.store import Store

    t0, c0 = time.perf_counter(), time.process_time()
    with Store(db) as store:
        res = import_dataset(store, fmt, paths, domains=domains, name="bench", replace=True)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": secs,
                "cpu_seconds": cpu,
                "peak_rss_mb": rss_mb,
                "after": res.counts,
                "rounds": res.params["preprocessing"]["rounds"],
            }
        )
    )


def run_child(db: Path, fmt: str, paths: list[Path], domains: list[str]) -> dict:
    cmd = [sys.executable, __file__, "--child", str(db), fmt, ",".join(domains), *map(str, paths)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        db, fmt, domains, *paths = sys.argv[2:]
        child(db, fmt, paths, domains.split(","))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reviews", type=int, default=1_000_000)
    ap.add_argument(
        "--keep", type=Path, help="write the generated files here, keep them and reuse them next time"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        cats = ("Grocery_and_Gourmet_Food", "Home_and_Kitchen")
        paths = [folder / f"{pre}{c}.json.gz" for c in cats for pre in ("", "meta_")]
        marker = folder / "reviews.txt"
        if args.keep and marker.exists() and marker.read_text().strip() == str(args.reviews):
            print(f"reusing the {args.reviews:,} generated reviews in {folder}")
        else:
            paths = generate(folder, args.reviews)
            marker.write_text(str(args.reviews))
            size = sum(p.stat().st_size for p in paths) / 2**20
            print(
                f"generated {args.reviews:,} reviews (2018 format, {size:.0f} MiB gzip) "
                f"in {time.perf_counter() - t0:.1f} s"
            )
        r = run_child(Path(tmp) / "bench.db", "amazon", paths, ["food", "kitchen"])
        rate = args.reviews / r["seconds"]
        print(f"load average (1 min) after the import: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(
            f"amazon 2018 import: {r['seconds']:.1f} s wall, {r['cpu_seconds']:.1f} s CPU; "
            f"{rate:,.0f} reviews/s wall, {args.reviews / r['cpu_seconds']:,.0f} per CPU-second "
            "(target >= 50,000), "
            f"peak RSS {r['peak_rss_mb']:.0f} MB (target < 1024); kept {r['after']['interactions']:,} "
            f"interactions after {r['rounds']} filter rounds"
        )
        if (FOOD_KITCHEN / "num.txt").exists():
            r = run_child(Path(tmp) / "fk.db", "llmcdsr", [FOOD_KITCHEN], ["food", "kitchen"])
            print(
                f"Food-Kitchen (llmcdsr) import: {r['seconds']:.1f} s wall, {r['cpu_seconds']:.1f} s CPU, peak RSS {r['peak_rss_mb']:.0f} MB, "
                f"{r['after']['interactions']:,} interactions"
            )
        else:
            print("Food-Kitchen folder not present: skipped")


if __name__ == "__main__":
    main()
