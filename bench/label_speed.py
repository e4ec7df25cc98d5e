"""Items/s of `annotate --method score` on fresh items: labels only, then labels + descriptions.

Each pass runs on a throw-away store with items it has never seen (no cache reuse): N food titles
of ../shared/data/amazon-food-kitchen (or the demo generator's items when absent) and the fixed
7-category taxonomy of bench/annotate_bench.py (K = 7, 4-6 subcategories each). Prints items/s,
tokens in/out, labels per item, the CPU model and the thread count.

    .venv/bin/python bench/label_speed.py --n 320 --describe-n 64
    # on a GPU (vLLM; dummy weights allowed for a throughput figure, labels then mean nothing):
    python bench/label_speed.py --backend vllm --model CONFIG_FOLDER --load-format dummy --n 4096 --describe-n 512
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from semacdr_cli.machine import cpu_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def make_store(path: Path, titles: list[str]):
    from annotate_bench import TAXONOMY

    from semacdr_cli.store import Store
    from semacdr_cli.store import semantic as sem
    from semacdr_cli.store.interactions import create_items_dataset

    store = Store(path)
    ds = create_items_dataset(store, "bench", {"food": [(f"i{n}", t) for n, t in enumerate(titles)]})
    sem.insert_taxonomy(store, ds, TAXONOMY, origin="imported")
    return store


def bench_titles(n: int, offset: int) -> list[str]:
    from annotate_bench import FOOD

    if FOOD.is_file():
        import gzip

        with gzip.open(FOOD, "rt", encoding="utf-8") as f:
            out = [json.loads(line).get("title") or "" for line in f]
        return [t for t in out if t][offset : offset + n]
    import random

    from semacdr_cli.datasets.demo import make_items

    return [
        it["title"] + ". " + it["description"] for it in make_items("book", offset + n, random.Random(1))
    ][offset:]


def run(backend, titles: list[str], describe: bool) -> dict:
    from semacdr_cli.annotate.domain import annotate_domain
    from semacdr_cli.config import AnnotateConfig

    with tempfile.TemporaryDirectory() as d:
        store = make_store(Path(d) / "b.db", titles)
        t0 = time.perf_counter()
        s = annotate_domain(
            store, 1, backend, AnnotateConfig(domain="food", describe=describe, batch_size=64)
        )
        wall = time.perf_counter() - t0
        store.close()
    return {
        "items": len(titles),
        "describe": describe,
        "seconds": round(wall, 2),
        "items_per_s": round(len(titles) / wall, 2),
        "tokens_in": s.tokens_in,
        "tokens_out": s.tokens_out,
        "labels_per_item": s.labels_per_item,
        "described": s.described,
        "failed": s.failed,
    }


def main() -> None:  # vLLM spawns workers: keep everything under main()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=320, help="items for the labels-only pass")
    p.add_argument("--describe-n", type=int, default=64, help="items for the labels + descriptions pass")
    p.add_argument("--model", default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--backend", default="transformers", choices=["transformers", "vllm"])
    p.add_argument(
        "--load-format", default=None, help="vllm: e.g. dummy (random weights, for throughput only)"
    )
    p.add_argument(
        "--dtype", default="auto", help="transformers backend: auto | float32 | bfloat16 | float16"
    )
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    from semacdr_cli.llm import get_backend

    t0 = time.perf_counter()
    if a.backend == "vllm":
        opts = {"load_format": a.load_format} if a.load_format else {}
        backend = get_backend("vllm", model=a.model, **opts)
        backend.dtype = backend.engine_options.get("dtype", "auto")
    else:
        backend = get_backend("transformers", model=a.model, batch_size=a.batch_size, threads=a.threads,
                              dtype=a.dtype)  # fmt: skip
    import torch

    load = time.perf_counter() - t0
    rows = [
        run(backend, bench_titles(a.n, 0), describe=False),
        run(backend, bench_titles(a.describe_n, a.n), describe=True),
    ]
    out = {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "dtype": backend.dtype,
        "model": backend.model,
        "load_seconds": round(load, 1),
        "passes": rows,
    }
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"CPU {out['cpu']}, {out['threads']} threads, {out['dtype']}, model load {out['load_seconds']} s")
    for r in rows:
        kind = "labels + descriptions" if r["describe"] else "labels only"
        print(
            f"{kind:22} {r['items']:>5} items {r['seconds']:>8.1f} s {r['items_per_s']:>7.2f} items/s "
            f"tokens in/out {r['tokens_in']}/{r['tokens_out']} labels/item {r['labels_per_item']} failed {r['failed']}"
        )


if __name__ == "__main__":
    main()
