"""The in-harness SASRec against the reference SASRec (pmixer/SASRec.pytorch) on food-kitchen-min4.

    python bench/sasrec_parity.py [--store min4.db] [--threads 2] [--epochs 300]
    python bench/sasrec_parity.py --table --fixed-epochs 100 [--jobs 2]   # the per-change table

Trains ``sasrec`` on the food sequences with the reference's settings (d 64, 2 blocks, 1 head,
dropout 0.5, maxlen 50, batch 256, lr 1e-3) and the harness defaults otherwise (to convergence:
validation every 5 epochs, patience 6 validations), then prints test NDCG@10 / HR@10 (100 sampled
negatives, and full ranking beside them), epochs, whether the run hit the cap and s/epoch, beside the
reference's figures from the data set's README. ``--table`` trains the harness defaults and one run
per backbone change reverted (each change of docs/trainer.md "Backbone"), for a fixed number of
epochs, and prints the table. Each run is its own process with its own thread count; ``--jobs 2``
runs two at once (1 thread each; the s/epoch of such rows is not a quiet figure).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN4 = ROOT.parent / "shared" / "data" / "food-kitchen-min4"
REFERENCE = {  # README of food-kitchen-min4: pmixer/SASRec.pytorch at fde8a9c, test split
    20: (0.294, 0.469),
    40: (0.331, 0.475),
    60: (0.355, 0.481),
    80: (0.366, 0.486),
    100: (0.366, 0.487),
}
REFERENCE_S_PER_EPOCH = 6.0  # the README: 8.3 s with 1 thread beside another job, ~6 s quiet with 2
SETTINGS = {
    "hidden": 64,
    "n_blocks": 2,
    "n_heads": 1,
    "dropout": 0.5,
    "max_len": 50,
    "batch_size": 256,
    "lr": 1e-3,
}
# each backbone change of docs/trainer.md, reverted alone
REVERTS = {
    "defaults (all changes)": {},
    "loss = bce (reference)": {"loss": "bce"},
    "loss = bpr (paper Eq. 13)": {"loss": "bpr"},
    "loss_norm = batch": {"loss_norm": "batch"},
    "batching = bucket": {"batching": "bucket"},
    "micro_batches = 1": {"micro_batches": 1},
    "init = legacy": {"init": "legacy"},
    "branch_dropout = true": {"branch_dropout": True},
    "adam_beta2 = 0.999": {"adam_beta2": 0.999},
    "positions = forward": {"positions": "forward"},
    "bucket + batch norm": {"batching": "bucket", "loss_norm": "batch"},
    "bpr + legacy init + branch dropout": {"loss": "bpr", "init": "legacy", "branch_dropout": True},
    "all reverted (before)": {
        "batching": "bucket",
        "loss": "bpr",
        "loss_norm": "batch",
        "init": "legacy",
        "branch_dropout": True,
        "adam_beta2": 0.999,
        "positions": "forward",
        "micro_batches": 1,
    },
}


def min4_store(path: str | None) -> str:
    if path:
        return path
    from semacdr_cli.ingest import import_dataset
    from semacdr_cli.store import Store

    out = Path(tempfile.mkdtemp(prefix="semacdr-parity-")) / "min4.db"
    with Store(out) as s:
        import_dataset(s, "csv", MIN4, domains=["food", "kitchen"], filter=False)
    return str(out)


def one(args) -> dict:
    """Train one sasrec run and evaluate it (runs in a child process)."""
    from trainer import api

    overrides = {**SETTINGS, **json.loads(args.overrides), "threads": args.threads}
    if args.fixed_epochs:
        overrides |= {"patience": 10**6}
    runs = tempfile.mkdtemp(prefix="semacdr-parity-runs-")
    t0 = time.perf_counter()
    [run] = api.train(
        args.store,
        target="food",
        model="sasrec",
        preset="paper",  # the setting the parity figures of docs/trainer.md "Backbone" were met under
        epochs=args.fixed_epochs or args.epochs,
        runs_dir=runs,
        progress=False,
        overrides=overrides,
        seed=args.seed,
    )
    wall = time.perf_counter() - t0
    row = api.run_record(args.store, run)
    epochs = [json.loads(line) for line in (Path(row["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    test = row["metrics"]["test"]
    return {
        "epochs": len(epochs),
        "best_epoch": row["best_epoch"],
        "hit_cap": row["metrics"]["train"]["hit_cap"],
        "s_per_epoch": sum(e["train_seconds"] for e in epochs) / len(epochs),
        "wall_s": wall,
        "test_sampled": test["sampled"],
        "test_full": test["full"],
        "machine": row["versions"]["machine"],
    }


def spawn(args, overrides: dict, threads: int) -> subprocess.Popen:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--store",
        args.store,
        "--overrides",
        json.dumps(overrides),
        "--threads",
        str(threads),
        "--epochs",
        str(args.epochs),
        "--seed",
        str(args.seed),
    ]
    if args.fixed_epochs:
        cmd += ["--fixed-epochs", str(args.fixed_epochs)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def collect(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"a bench run failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def line(name: str, r: dict) -> str:
    s, f = r["test_sampled"], r["test_full"]
    return (
        f"{name:<26} {r['epochs']:>6} {str(r['hit_cap']).lower():>7} {r['s_per_epoch']:>7.2f} "
        f"{s['ndcg@10']:>9.4f} {s['hr@10']:>7.4f} {f['ndcg@10']:>9.4f} {f['hr@10']:>7.4f}"
    )


HEADER = f"{'run':<26} {'epochs':>6} {'hit cap':>7} {'s/epoch':>7} {'NDCG@10':>9} {'HR@10':>7} {'full NDCG':>9} {'full HR':>7}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=300, help="the cap (default 300)")
    p.add_argument("--fixed-epochs", type=int, default=0, help="train exactly N epochs (no early stopping)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--table", action="store_true", help="one run per backbone change reverted")
    p.add_argument("--only", help="comma-separated row names of the table to run")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument(
        "--set", default="{}", help='JSON config overrides for every run, e.g. {"loss": "softmax"}'
    )
    p.add_argument("--json", help="write the results here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(one(args)))
        return
    args.store = min4_store(args.store)
    rows = REVERTS if args.table else {"defaults (all changes)": {}}
    if args.only:
        keep = set(args.only.split(","))
        rows = {k: v for k, v in rows.items() if k in keep}
    threads = args.threads if args.jobs == 1 else 1
    print(
        "reference SASRec (README), test NDCG@10 / HR@10 by epochs: "
        + ", ".join(f"{e}: {n:.3f} / {h:.3f}" for e, (n, h) in REFERENCE.items())
        + f"; ~{REFERENCE_S_PER_EPOCH:.0f} s/epoch quiet with 2 threads",
        flush=True,
    )
    print(HEADER, flush=True)
    results, pending = {}, list(rows.items())
    running: list[tuple[str, subprocess.Popen]] = []
    while pending or running:
        while pending and len(running) < args.jobs:
            name, ov = pending.pop(0)
            running.append((name, spawn(args, {**json.loads(args.set), **ov}, threads)))
        name, proc = running.pop(0)
        results[name] = collect(proc) | {"overrides": rows[name]}
        print(line(name, results[name]), flush=True)
    first = next(iter(results.values()))
    print(
        f"machine: {first['machine']['cpu']}, {first['machine']['torch_threads']} torch thread(s), "
        f"{args.jobs} run(s) at a time",
        flush=True,
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"settings": SETTINGS, "reference": REFERENCE, "results": results, "jobs": args.jobs},
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
