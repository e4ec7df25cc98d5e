"""The results table that says whether the semantics help: sasrec, cd-sasrec, semacdr without
semantics and full semacdr on Food-Kitchen in both directions, with the paper's protocol (sampled)
and full ranking side by side. Rows whose inputs are missing (full semacdr before `annotate` and
`embed`) are skipped, and the table says so.

    python bench/quality.py STORE [--epochs 50] [--repeat 1] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

ROWS = (("sasrec", None), ("cd-sasrec", None), ("semacdr", ["no-semantics"]), ("semacdr", None))
KEYS = ("hr@5", "hr@10", "ndcg@5", "ndcg@10")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("store")
    p.add_argument("--domains", default="kitchen,food", help="the two domains (both directions are run)")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--out", default="bench/results")
    args = p.parse_args()

    from semacdr_cli.errors import SemacdrError
    from trainer import api

    a, b = args.domains.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs_dir = tempfile.mkdtemp(prefix="semacdr-quality-")
    results = []
    for source, target in ((a, b), (b, a)):
        for model, ablation in ROWS:
            name = model + (f" --ablation {ablation[0]}" if ablation else "")
            row = {"source": source, "target": target, "model": name}
            try:
                ids = api.train(args.store, source=None if model == "sasrec" else source, target=target, model=model,
                                ablation=ablation, epochs=args.epochs, repeat=args.repeat, runs_dir=runs_dir)
                row = {**api.evaluate(args.store, ids[0], "test"), **row}  # keep the row's own labels
            except SemacdrError as exc:
                row["skipped"] = exc.message
            results.append(row)
            print(json.dumps(row), flush=True)
    (out / "quality.json").write_text(json.dumps(results, indent=2))
    lines = ["| source → target | model | " + " | ".join(f"sampled {k}" for k in KEYS) + " | "
             + " | ".join(f"full {k}" for k in KEYS) + " |", "|" + "---|" * (2 + 2 * len(KEYS))]
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
        lines.append(f"| {r['source']} → {r['target']} | {r['model']} | " + " | ".join(cells) + " |")
    (out / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
