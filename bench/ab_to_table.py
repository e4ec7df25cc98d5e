"""An A/B arm's runs as a bench table's row, where the arm trained exactly what the row trains.

    python bench/ab_to_table.py --arm fixes --row semacdr [--ab bench/results/ab.json]
                                [--out bench/results/food-kitchen.json] [--table-inputs fk.db]

The A/B arm ``fixes`` is ``--preset fixes`` with no key changed over it, which is what the ``fixes`` table
trains as its ``semacdr`` row: the same config, seeds and store, so training it again would spend
CPU-hours to repeat the same runs. A run is copied only when the arm's preset and keys are the row's
under that table, its semantic fingerprint is the table's inputs (``--table-inputs STORE`` first makes
that store's inputs the table's own, as paper_table.py's switch of that name does) and the table has
no run of that row, direction and seed yet. Each copy names where it came from (``from_ab``: the A/B
file and its run id) and keeps the CPU it ran on.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from ab import ARMS  # noqa: E402
from ab import RESULTS as AB_RESULTS  # noqa: E402
from paper_table import (  # noqa: E402
    RESULTS,
    ROWS,
    adopt_store_inputs,
    done_keys,
    fingerprint,
    locked,
    run_loss,
    semantic_inputs,
    table_inputs,
)


def copy_arm(ab: dict, doc: dict, arm: str, row: str, source: str) -> list[dict]:
    """The records of ``arm``'s runs added to ``doc`` as ``row`` of the table the arm's preset names."""
    preset, keys, _ = ARMS[arm]
    [(_, label, model, ablation, overrides)] = [r for r in ROWS if r[0] == row]
    if model != "semacdr" or ablation or overrides or keys:
        sys.exit(
            f"--arm {arm} does not train row {row!r} of table {preset!r} (other model, ablation or keys)"
        )
    inputs = fingerprint(table_inputs(doc, preset))
    done, added = done_keys(doc, preset), []
    for r in ab["runs"]:
        if r["arm"] != arm or (row, r["direction"], r["seed"]) in done:
            continue
        if r.get("semantics") != inputs:
            sys.exit(
                f"{source} run {r['run']}: semantic inputs {r.get('semantics')} are not table {preset!r}'s"
            )
        machine = f"ab-run{r['run']}"
        doc.setdefault("machine", {})[machine] = {"cpu": r["machine"]["cpu"], "threads": r["threads"]}
        added.append(
            {
                "row": row, "label": label, "table": preset, "preset": preset,
                "loss": run_loss(model, overrides, preset), "direction": r["direction"], "seed": r["seed"],
                "run": r["run"], "sampled": r["sampled"], "full": r["full"], "breakdown": r.get("breakdown", {}),
                "train": r["train"], "wall_seconds": r["wall_seconds"], "threads": r["threads"],
                "machine": machine, "semantics": r["semantics"], "from_ab": f"{source} run {r['run']}",
            }
        )  # fmt: skip
    doc["runs"] += added
    return added


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ab", type=Path, default=AB_RESULTS)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--arm", default="fixes")
    p.add_argument("--row", default="semacdr")
    p.add_argument(
        "--table-inputs", metavar="STORE", help="make this store's semantic inputs the table's first"
    )
    args = p.parse_args()
    ab = json.loads(args.ab.read_text())
    store_inputs = semantic_inputs(args.table_inputs) if args.table_inputs else None
    with locked(args.out) as doc:
        if store_inputs:
            adopt_store_inputs(doc, ARMS[args.arm][0], store_inputs)
        added = copy_arm(ab, doc, args.arm, args.row, args.ab.name)
    for r in added:
        print(f"{r['row']} {r['direction']} seed {r['seed']} [{r['table']}] <- {r['from_ab']}")
    print(f"{len(added)} run(s) added to {args.out}")


if __name__ == "__main__":
    main()
