"""What early stopping's metric trades: for each row of a results table, the validation NDCG@10 of both
protocols at the validation the run selected and at each protocol's own best, from the run folders.

    python bench/selection.py --runs-dir runs/ [--runs-dir more/] [--out bench/results/food-kitchen.json] [--table fixes]
                              [--rows semacdr,cd-sasrec] [--json]

A run selected on full NDCG@10 validates both protocols every ``eval_every`` epochs (metrics.jsonl:
``valid`` and ``valid_full``), so the sampled NDCG@10 it gives up for its full-ranking choice can be
read without training again. Runs selected on sampled NDCG@10 validate only that protocol and are
left out. Validation figures, not test: the test split is read once, at the selected epoch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def curve(run_dir: Path) -> list[dict]:
    """The validations of a run that measured both protocols: epoch, sampled and full NDCG@10."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [
        {"epoch": r["epoch"], "sampled": r["valid"]["ndcg@10"], "full": r["valid_full"]["ndcg@10"]}
        for r in rows
        if "valid" in r and "valid_full" in r
    ]


def trade(points: list[dict]) -> dict:
    """At the full-selected validation and at the sampled-best one: the epoch and both metrics."""
    by_full = max(points, key=lambda p: p["full"])
    by_sampled = max(points, key=lambda p: p["sampled"])
    return {"selected_on_full": by_full, "best_sampled": by_sampled}


def _means(seeds: list[dict], at: str) -> dict:
    return {m: statistics.mean(s[at][m] for s in seeds) for m in ("sampled", "full")}


def _span(epochs: list[int]) -> str:
    return f"{epochs[0]}–{epochs[-1]}" if epochs[0] != epochs[-1] else str(epochs[0])


def table(doc: dict, runs_dirs: list[Path], table_name: str, rows: list[str] | None) -> list[dict]:
    """Per row and direction of ``table_name``: the mean trade over the runs that count in its table
    (paper_table.current_runs: runs on earlier semantic inputs are left out, as in the docs)."""
    from paper_table import current_runs

    from trainer.registry import folder_name

    groups: dict[tuple[str, str], list[dict]] = {}
    for r in current_runs(doc, table_name):
        if rows and r["row"] not in rows:
            continue
        files = [d / folder_name(r["run"]) / "metrics.jsonl" for d in runs_dirs]
        found = [f for f in files if f.exists()]
        points = curve(found[0].parent) if found else []
        if points:
            groups.setdefault((r["row"], r["direction"]), []).append({"seed": r["seed"], **trade(points)})
    out = []
    for (row, direction), seeds in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        out.append({
            "row": row, "direction": direction, "seeds": sorted(s["seed"] for s in seeds),
            "full_selected": _means(seeds, "selected_on_full"), "sampled_best": _means(seeds, "best_sampled"),
            "epochs_full": sorted(s["selected_on_full"]["epoch"] + 1 for s in seeds),
            "epochs_sampled": sorted(s["best_sampled"]["epoch"] + 1 for s in seeds),
        })  # fmt: skip
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "food-kitchen.json")
    p.add_argument("--runs-dir", type=Path, action="append", help="where the run folders are (repeatable)")
    p.add_argument("--table", default="fixes")
    p.add_argument("--rows", help="keys of the results file's rows, separated by commas (default: all)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if not args.out.exists():
        sys.exit(f"{args.out}: no such results file")
    runs_dirs = args.runs_dir or [ROOT / "bench" / "results" / "runs"]
    rows = table(json.loads(args.out.read_text()), runs_dirs, args.table, args.rows and args.rows.split(","))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print("| row | direction | seeds | selected on full: valid sampled / full NDCG@10 (epoch) "
          "| best sampled: valid sampled / full NDCG@10 (epoch) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for r in rows:
        f, s = r["full_selected"], r["sampled_best"]
        print(
            f"| {r['row']} | {r['direction'].replace(':', ' → ')} | {len(r['seeds'])} "
            f"| {f['sampled']:.4f} / {f['full']:.4f} ({_span(r['epochs_full'])}) "
            f"| {s['sampled']:.4f} / {s['full']:.4f} ({_span(r['epochs_sampled'])}) |"
        )


if __name__ == "__main__":
    main()
