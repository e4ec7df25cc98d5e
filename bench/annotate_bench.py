"""Throughput of `annotate` next to the raw backend on the same prompts.

For each --backend: items/s and output tokens/s of `annotate_domain` on N food items, and the raw
`backend.generate` time on exactly the same prompts and schema; pipeline overhead = pipeline
time / raw time (target <= 1.15). The outlier filter is off so both runs make the same calls.

    .venv/bin/python bench/annotate_bench.py --n 32 --backend transformers
    .venv/bin/python bench/annotate_bench.py --n 256 --backend vllm --model CONFIG_FOLDER --load-format dummy

Items: the first N titles of ../shared/data/amazon-food-kitchen/items_food.jsonl.gz (or --titles
FILE, one per line) in a throw-away store with a fixed 7-category taxonomy (or --taxonomy FILE).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOOD = ROOT.parent / "shared" / "data" / "amazon-food-kitchen" / "items_food.jsonl.gz"

TAXONOMY = [
    {
        "name": "Target Audience",
        "subcategories": ["Children", "Teens", "Adults", "Seniors", "Families", "Professionals"],
    },
    {"name": "Occasion", "subcategories": ["Everyday", "Holiday", "Gift", "Party", "Travel"]},
    {"name": "Style", "subcategories": ["Classic", "Modern", "Gourmet", "Rustic", "Minimalist"]},
    {"name": "Price Level", "subcategories": ["Budget", "Mid-Range", "Premium", "Luxury"]},
    {"name": "Usage Context", "subcategories": ["Home", "Outdoor", "Office", "On The Go", "Commercial"]},
    {
        "name": "Health Focus",
        "subcategories": ["Organic", "Low Sugar", "Gluten Free", "High Protein", "Indulgent"],
    },
    {"name": "Origin", "subcategories": ["Local", "Imported", "Handmade", "Brand Name", "Generic"]},
]


def titles(n: int, path: str | None) -> list[str]:
    if path:
        return [t.strip() for t in Path(path).read_text().splitlines() if t.strip()][:n]
    if not FOOD.exists():
        sys.exit(f"no {FOOD}; pass --titles FILE")
    out = []
    with gzip.open(FOOD, "rt") as f:
        for line in f:
            out.append(json.loads(line)["title"])
            if len(out) == n:
                break
    return out


def build_store(db: Path, item_titles: list[str], taxonomy: list[dict]):
    from semacdr_cli.store import Store
    from semacdr_cli.store import semantic as sem
    from semacdr_cli.store.interactions import create_items_dataset

    store = Store(db)
    ds = create_items_dataset(store, "bench", {"food": [(f"I{i:06d}", t) for i, t in enumerate(item_titles)]})
    sem.insert_taxonomy(store, ds, taxonomy, origin="imported")
    return store, ds


def bench_one(name: str, args, item_titles: list[str], taxonomy: list[dict]) -> dict:
    from semacdr_cli.annotate.domain import annotate_domain
    from semacdr_cli.annotate.generate import _Annotator, _Work
    from semacdr_cli.annotate.item_text import item_text
    from semacdr_cli.config import AnnotateConfig, OutlierConfig
    from semacdr_cli.llm import get_backend
    from semacdr_cli.llm.base import Constraint, SamplingConfig
    from semacdr_cli.store import semantic as sem

    opts: dict = {}
    if name == "transformers":
        opts["batch_size"] = args.batch_size
    if args.load_format:
        opts["load_format"] = args.load_format
    if args.base_url:
        opts["base_url"] = args.base_url
    t0 = time.perf_counter()
    backend = get_backend(name, model=args.model, **opts)
    load_s = time.perf_counter() - t0
    cfg = AnnotateConfig(
        domain="food",
        batch_size=args.batch_size,
        retries=args.retries,
        sampling=SamplingConfig(max_tokens=args.max_tokens),
        outliers=OutlierConfig(enabled=False),
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # raw backend on the very prompts the pipeline sends (first attempts)
            store, ds = build_store(Path(tmp) / "raw.db", item_titles, taxonomy)
            job = _Annotator(store, ds, backend, cfg)
            rows = sem.items_by_ids(store, sem.domain_item_ids(store, job.domain["id"]))
            chats = [job.chat(_Work(row=r, text=item_text(r))) for r in rows]
            constraint = Constraint(json_schema=job.schema)
            backend.generate(
                chats[: min(2, len(chats))], constraint, cfg.sampling
            )  # warm-up (grammar, kernels)
            t0 = time.perf_counter()
            raw_out = 0
            for i in range(0, len(chats), args.batch_size):
                gens = backend.generate(chats[i : i + args.batch_size], constraint, cfg.sampling)
                raw_out += sum(g.tokens_out for g in gens)
            raw_s = time.perf_counter() - t0
            store.close()
            # the pipeline, on a fresh store (no cache)
            store, ds = build_store(Path(tmp) / "pipe.db", item_titles, taxonomy)
            t0 = time.perf_counter()
            s = annotate_domain(store, ds, backend, cfg)
            pipe_s = time.perf_counter() - t0
            store.close()
    finally:
        backend.close()
    return {
        "backend": name,
        "model": backend.model,
        "items": len(item_titles),
        "batch_size": args.batch_size,
        "load_s": round(load_s, 1),
        "raw_s": round(raw_s, 2),
        "raw_items_per_s": round(len(item_titles) / raw_s, 2),
        "raw_output_tokens_per_s": round(raw_out / raw_s, 1),
        "pipeline_s": round(pipe_s, 2),
        "pipeline_items_per_s": round(len(item_titles) / pipe_s, 2),
        "pipeline_output_tokens_per_s": round(s.tokens_out / pipe_s, 1),
        "overhead": round(pipe_s / raw_s, 3),
        "done": s.done,
        "failed": s.failed,
        "retried": s.retried,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--backend", action="append", help="transformers | vllm | openai (repeatable)")
    p.add_argument("--model", default=None)
    p.add_argument("--base-url", default=None)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=384)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--load-format", default=None, help="vllm: e.g. dummy (random weights, throughput only)")
    p.add_argument("--titles", default=None)
    p.add_argument("--taxonomy", default=None, help="taxonomy JSON file (the export format)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    backends = args.backend or ["transformers"]
    if not args.backend:
        import importlib.util

        if importlib.util.find_spec("vllm") is not None:
            backends.append("vllm")
    taxonomy = json.loads(Path(args.taxonomy).read_text())["categories"] if args.taxonomy else TAXONOMY
    item_titles = titles(args.n, args.titles)
    results = [bench_one(b, args, item_titles, taxonomy) for b in backends]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    keys = list(results[0])
    print("\t".join(keys))
    for r in results:
        print("\t".join(str(r[k]) for k in keys))


if __name__ == "__main__":
    main()
