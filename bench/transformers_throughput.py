"""Raw throughput of the `transformers` backend (output tokens/s, batched) per dtype and thread count.

    .venv/bin/python bench/transformers_throughput.py --dtypes float32,bfloat16 --threads 1,2
    .venv/bin/python bench/transformers_throughput.py --device cuda --dtypes bfloat16 --batch-size 64 -n 256

Prints one row per (dtype, threads, constraint): prompts, output tokens, seconds, tokens/s, and
tokens per CPU-second of this process (on a shared, oversubscribed machine wall time mostly
measures the neighbours; with one thread, tokens/CPU-s is the fair dtype comparison).
The prompts are short shop-item annotation requests; "json" rows run under an xgrammar JSON schema.
"""

from __future__ import annotations

import argparse
import json
import os
import time

SCHEMA = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "enum": ["Beverages", "Snacks", "Cookware", "Cleaning"]},
        "description": {"type": "string", "maxLength": 200},
    },
    "required": ["category", "description"],
    "additionalProperties": False,
}
TITLES = [
    "Organic Green Tea Bags, 100 Count", "Dark Chocolate Bar with Sea Salt", "Cast Iron Skillet 12 Inch",
    "Bamboo Cutting Board Set", "Roasted Coffee Beans Espresso Blend", "Electric Kettle 1.7 L",
    "Honey Roasted Peanuts Snack Pack", "Glass Food Storage Containers",
]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model spec for resolve_model (default: bundled SmolLM2)")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--threads", default="", help="comma list of torch thread counts (default: backend's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("-n", type=int, default=16, help="number of prompts")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--constraints", default="none,json")
    ap.add_argument("--json", action="store_true", help="print rows as JSON lines")
    args = ap.parse_args()

    import torch

    from semacdr_cli.llm import Constraint, SamplingConfig
    from semacdr_cli.llm.models import resolve_model
    from semacdr_cli.llm.transformers_backend import TransformersBackend

    path = resolve_model(args.model)
    prompts = [
        [
            {
                "role": "user",
                "content": f"Describe this shop item in two sentences, as JSON: {TITLES[i % len(TITLES)]}",
            }
        ]
        for i in range(args.n)
    ]
    sampling = SamplingConfig(max_tokens=args.max_tokens)
    threads = [int(t) for t in args.threads.split(",") if t] or [None]
    print(f"# model={path} device={args.device} cores={len(os.sched_getaffinity(0))} load1={os.getloadavg()[0]:.1f}"
          f" torch={torch.__version__}")  # fmt: skip
    for dtype in args.dtypes.split(","):
        backend = TransformersBackend(path, dtype=dtype, batch_size=args.batch_size, device=args.device)
        for th in threads:
            if th is not None:
                torch.set_num_threads(th)
            for kind in args.constraints.split(","):
                constraint = Constraint(json_schema=SCHEMA) if kind == "json" else None
                backend.generate(prompts[:2], constraint, SamplingConfig(max_tokens=4))  # warm up
                t0, c0 = time.perf_counter(), time.process_time()
                gens = backend.generate(prompts, constraint, sampling)
                dt, cpu = time.perf_counter() - t0, time.process_time() - c0
                out = sum(g.tokens_out for g in gens)
                row = {"dtype": dtype, "threads": torch.get_num_threads(), "constraint": kind, "prompts": len(gens),
                       "batch_size": args.batch_size, "tokens_out": out, "seconds": round(dt, 2),
                       "tokens_per_s": round(out / dt, 1), "cpu_seconds": round(cpu, 2),
                       "tokens_per_cpu_s": round(out / cpu, 1)}  # fmt: skip
                print(
                    json.dumps(row) if args.json else "  ".join(f"{k}={v}" for k, v in row.items()),
                    flush=True,
                )
        backend.close()


if __name__ == "__main__":
    main()
