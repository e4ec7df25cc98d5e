"""Where a trained run puts the cold target items: those that occur in no training window.

A cold item is never a training positive, so under a softmax it only ever receives the push-down of a
negative; where it ends depends on how far training pushed it, not on anything known about it. For
each run: the mean full-ranking position of cold and of warm items over the test users (1 = top), the
share of top-10 slots that are cold, and the cold test cases' HR@10 under both protocols (the results
tables print the sampled one). ``--checkpoint last`` reads the last epoch instead of the best.

    OMP_NUM_THREADS=1 .venv/bin/python bench/cold_items.py --store fk.db 138 79 [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cold_profile(store: str, run: int, checkpoint: str = "best") -> dict:
    import torch

    from trainer.api import load_run
    from trainer.batch import collate
    from trainer.evaluate import evaluate_model, warm_items
    from trainer.loop import load_weights

    row, cfg, data, model, device = load_run(store, run)
    if checkpoint == "last":
        load_weights(model, Path(row["run_dir"]) / "last.safetensors")
        model.eval()
    nt = data.n_target
    warm = warm_items(data)[1 : nt + 1]
    cases = data.cases["test"]
    position_sum, cold_in_top = 0, 0
    with torch.no_grad():
        tables = model.tables()
        items = model.target_table(tables)[1 : nt + 1]
        is_cold = ~torch.as_tensor(warm, device=items.device)
        for start in range(0, len(cases), 512):
            batch = collate([c.record for c in cases[start : start + 512]], nt, device=device)
            order = model.scorer.all(model.final_states(batch, tables), items).argsort(1, descending=True)
            position_sum = position_sum + order.argsort(1).sum(0)
            cold_in_top += int(is_cold[order[:, :10]].sum())
    mean_pos = position_sum.double().cpu().numpy() / len(cases) + 1
    cold = evaluate_model(model, data, cfg, "test", device=device)["breakdown"]["cold"]
    return {
        "run": run,
        "model": row["model"],
        "direction": f"{row['source_domain']} -> {row['target_domain']}",
        "checkpoint": checkpoint,
        "cold_items": int((~warm).sum()),
        "items": nt,
        "mean_position_cold": float(mean_pos[~warm].mean()),
        "mean_position_warm": float(mean_pos[warm].mean()),
        "cold_share_of_top10": cold_in_top / (10 * len(cases)),
        "cold_cases": cold["cases"],
        "cold_hr@10_sampled": cold["sampled"]["hr@10"],
        "cold_hr@10_full": cold["full"]["hr@10"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=int, nargs="+")
    ap.add_argument("--store", default="annotations.db")
    ap.add_argument("--checkpoint", choices=("best", "last"), default="best")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = [cold_profile(args.store, r, args.checkpoint) for r in args.runs]
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for p in out:
        print(
            f"run {p['run']} {p['model']} {p['direction']} ({p['checkpoint']}): cold items "
            f"{p['cold_items']} of {p['items']}, mean position cold {p['mean_position_cold']:.0f} / "
            f"warm {p['mean_position_warm']:.0f}, cold share of top-10 {p['cold_share_of_top10']:.4f}; "
            f"{p['cold_cases']} cold cases: HR@10 sampled {p['cold_hr@10_sampled']:.3f}, "
            f"full {p['cold_hr@10_full']:.4f}"
        )


if __name__ == "__main__":
    main()
