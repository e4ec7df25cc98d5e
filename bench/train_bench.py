"""Seconds per epoch and peak RSS of sasrec, cd-sasrec and semacdr on Food-Kitchen (CPU), and the
time of a full-ranking evaluation of every test user over every target item.

    python bench/train_bench.py [--store fk.db] [--target food --source kitchen] [--semantics random|none]
                                [--threads 2] [--stages] [--rounds 5]
                                [--models sasrec,semacdr,semacdr@encoders=grouped]

Without --store, Food-Kitchen is imported into a temp store with the llmcdsr importer. semacdr runs
with ``--ablation no-semantics`` (``--semantics none``, the default) or on random label/vector
fixtures (``--semantics random``); the store's own annotations are used when it has them
(``--semantics store``). Each model runs in its own process, so peak RSS is its own.
``--stages`` adds a per-stage breakdown of an epoch (collation, each graph convolution and sequence
encoder, backward + step, validation), from 20 sampled steps.
A model may carry training keys after ``@`` (``semacdr@encoders=grouped;micro_batches=2``, or a preset:
``semacdr@preset=fixes``): the same model under two settings in one run, each with its own ratio to
the sasrec run with the same keys (``sasrec@preset=fixes``), else to plain sasrec.
Targets: full-ranking evaluation of all users < 10 s; a semacdr epoch within 2.5x of a sasrec epoch.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def one(args) -> dict:
    """Train one epoch of one model and time a full-ranking evaluation (runs in a child process)."""
    import torch

    from trainer import api
    from trainer.evaluate import evaluate_model
    from trainer.models import SINGLE_DOMAIN

    name, keys = parse_spec(args.model)
    ablation = ["no-semantics"] if name == "semacdr" and args.semantics == "none" else None
    runs = tempfile.mkdtemp(prefix="semacdr-bench-runs-")
    [run] = api.train(
        args.store,
        source=None if name in SINGLE_DOMAIN else args.source,
        target=args.target,
        model=name,
        ablation=ablation,
        epochs=args.epochs,
        runs_dir=runs,
        progress=False,
        device="cpu",
        overrides={"threads": args.threads, **{k: v for k, v in keys.items() if k != "preset"}},
        preset=keys.get("preset", "paper"),  # without one: the paper preset, that of docs/trainer.md "Cost"
    )
    row, cfg, data, model, _device = api.load_run(args.store, run)
    epochs = [json.loads(line) for line in (Path(row["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    stages = {}
    if args.stages:
        from _stages import stage_breakdown

        stages = stage_breakdown(model, data, cfg)
    t0 = time.perf_counter()
    with torch.no_grad():
        full = evaluate_model(model, data, cfg, "test", protocols=("full",))
    full_s = time.perf_counter() - t0
    return {
        "model": args.model + (" (no-semantics)" if ablation else ""),
        "spec": args.model,
        "epoch_seconds": sum(e["train_seconds"] for e in epochs) / len(epochs),
        "stages": stages,
        "full_ranking_seconds": full_s,
        "full_ranking_users": full["cases"],
        "target_items": data.n_target,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
        "machine": row["versions"].get("machine"),
    }


def parse_spec(spec: str) -> tuple[str, dict]:
    """``semacdr@encoders=grouped;micro_batches=2`` -> ("semacdr", {"encoders": "grouped", ...})."""
    name, _, rest = spec.partition("@")
    keys = {}
    for item in filter(None, rest.split(";")):
        key, _, value = item.partition("=")
        bools = {"true": True, "false": False}
        keys[key] = bools.get(value, int(value) if value.lstrip("-").isdigit() else value)
    return name, keys


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store")
    p.add_argument("--source", default="kitchen")
    p.add_argument("--target", default="food")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--semantics", choices=("none", "random", "store"), default="none")
    p.add_argument("--models", default="sasrec,cd-sasrec,semacdr")
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--stages", action="store_true", help="per-stage breakdown of an epoch")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the models in turn this many times (A B A B ...); "
        "the ratio is the median of the per-round ratios, robust to a machine whose speed drifts",
    )
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    if args.model:
        print(json.dumps(one(args)))
        return
    from _bench_common import food_kitchen_store, with_random_semantics

    store = food_kitchen_store(args.store)
    sem_store = with_random_semantics(store) if args.semantics == "random" else store
    results = []
    for model in args.models.split(",") * args.rounds:
        cmd = [
            sys.executable,
            __file__,
            "--model",
            model,
            "--store",
            sem_store if model == "semacdr" else store,
            "--source",
            args.source,
            "--target",
            args.target,
            "--epochs",
            str(args.epochs),
            "--semantics",
            args.semantics,
            "--threads",
            str(args.threads),
        ] + (["--stages"] if args.stages else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        results.append(json.loads(out))
        r = results[-1]
        print(
            f"{r['model']:<26} epoch {r['epoch_seconds']:8.1f} s   full ranking of {r['full_ranking_users']} users "
            f"x {r['target_items']} items {r['full_ranking_seconds']:6.2f} s   peak RSS {r['peak_rss_mb']:7.0f} MB",
            flush=True,
        )
        for stage, sec in r["stages"].items():
            print(f"    {stage:<28} {sec:7.2f} s/epoch", flush=True)
    for spec in dict.fromkeys(r["spec"] for r in results if r["spec"].startswith("semacdr")):
        # against the sasrec run with the same keys (semacdr@k=v / sasrec@k=v), else plain sasrec
        keys = spec.partition("@")[2]
        base = [r["epoch_seconds"] for r in results if r["spec"] == ("sasrec@" + keys if keys else "sasrec")]
        base = base or [r["epoch_seconds"] for r in results if r["spec"] == "sasrec"]
        sema = [r["epoch_seconds"] for r in results if r["spec"] == spec]
        if not base:
            break
        ratios = sorted(a / b for a, b in zip(sema, base, strict=False))
        spread = (
            f" (per round {ratios[0]:.2f}-{ratios[-1]:.2f}, {len(ratios)} rounds)" if len(ratios) > 1 else ""
        )
        print(f"{spec} / sasrec epoch time: {statistics.median(ratios):.2f}x{spread} (target <= 2.5x)")
    print(
        f"machine: {results[0]['machine']['cpu']}, {results[0]['threads']} torch thread(s), one model at a time"
    )
    print(
        f"slowest full-ranking evaluation: {max(r['full_ranking_seconds'] for r in results):.2f} s (target < 10 s)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
