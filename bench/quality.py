"""The results table that says whether the semantics help: sasrec, cd-sasrec, semacdr without
semantics and full semacdr on Food-Kitchen in both directions, with the paper's protocol (sampled)
and full ranking side by side. Rows whose inputs are missing (full semacdr before `annotate` and
`embed`) are skipped, and the table says so.

    python bench/quality.py STORE [--epochs 50] [--repeat 1] [--out bench/results] [--runs-dir DIR]
                                  [--extra-ablations no-agnostic-semantics,...]

Each row also records its training wall time, the epochs each seed ran (early stopping) and the
share of items that had labels / vectors (``coverage``), so a partial annotation pass reads as such.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROWS = (("sasrec", None), ("cd-sasrec", None), ("semacdr", ["no-semantics"]), ("semacdr", None))
KEYS = ("hr@5", "hr@10", "ndcg@5", "ndcg@10")


def _run_dir(store_path: str, run_id: int) -> str:
    """Where the store says run ``run_id`` lives (not always ``run-<id>``: see trainer.api)."""
    from semacdr_cli.store import Store
    from semacdr_cli.store import training as q

    with Store(store_path, create=False) as store:
        return q.get_run(store, run_id)["run_dir"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store")
    p.add_argument("--domains", default="kitchen,food", help="the two domains (both directions are run)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--out", default="bench/results")
    p.add_argument("--runs-dir", help="where the run folders go (default: a temporary folder)")
    p.add_argument("--extra-ablations", default="", help="more semacdr rows, one per Table 3 switch")
    args = p.parse_args()

    from semacdr_cli.errors import SemacdrError
    from trainer import api
    from trainer.models import SINGLE_DOMAIN

    a, b = args.domains.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="semacdr-quality-")
    rows = list(ROWS) + [("semacdr", [x]) for x in args.extra_ablations.split(",") if x]
    results = []
    for source, target in ((a, b), (b, a)):
        for model, ablation in rows:
            name = model + (f" --ablation {ablation[0]}" if ablation else "")
            row = {"source": source, "target": target, "model": name}
            t0 = time.perf_counter()
            try:
                ids = api.train(
                    args.store,
                    source=None if model in SINGLE_DOMAIN else source,
                    target=target,
                    model=model,
                    ablation=ablation,
                    epochs=args.epochs,
                    repeat=args.repeat,
                    runs_dir=runs_dir,
                    preset="paper",  # the setting of the figures docs/ records from this bench
                )
                ids = [r["id"] for r in ids]
                row = {**api.evaluate(args.store, ids[0], "test"), **row}  # keep the row's own labels
                dirs = [Path(_run_dir(args.store, i)) for i in ids]
                row["coverage"] = json.loads((dirs[0] / "data.json").read_text()).get("coverage", {})
                row["train_seconds"] = round(time.perf_counter() - t0, 1)
                row["epochs"] = [len((d / "metrics.jsonl").read_text().splitlines()) for d in dirs]
            except SemacdrError as exc:
                row["skipped"] = exc.message
            results.append(row)
            print(json.dumps(row), flush=True)
    (out / "quality.json").write_text(json.dumps(results, indent=2))
    lines = [
        "| source → target | model | "
        + " | ".join(f"sampled {k}" for k in KEYS)
        + " | "
        + " | ".join(f"full {k}" for k in KEYS)
        + " | semantic coverage (items) |",
        "|" + "---|" * (3 + 2 * len(KEYS)),
    ]
    for r in results:
        if "skipped" in r:
            lines.append(f"| {r['source']} → {r['target']} | {r['model']} | skipped: {r['skipped']} |")
            continue
        cells = []
        for proto in ("sampled", "full"):
            for k in KEYS:
                v = f"{r[proto][k]:.4f}"
                if "std" in r:
                    v += f" ± {r['std'][proto][k]:.4f}"
                cells.append(v)
        cov = (
            ", ".join(f"{k.replace('_', ' ')} {v:.0%}" for k, v in sorted(r.get("coverage", {}).items()))
            or "-"
        )
        lines.append(f"| {r['source']} → {r['target']} | {r['model']} | " + " | ".join(cells) + f" | {cov} |")
    (out / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
