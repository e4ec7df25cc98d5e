"""bench/quality.py writes the results table: every row of both directions, with coverage and epochs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from trainer_synth import build_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quality_table_has_every_model_in_both_directions_with_semantic_coverage(tmp_path):
    db = build_store(tmp_path / "s.db", users=60, target_items=24, source_items=24)
    out = tmp_path / "out"
    (tmp_path / "runs" / "run-0001").mkdir(parents=True)  # another store's run 1 in the same folder
    (tmp_path / "runs" / "run-0001" / "state.json").write_text("{}")
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "quality.py"),
            db,
            "--domains",
            "kitchen,food",
            "--epochs",
            "1",
            "--out",
            str(out),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--extra-ablations",
            "no-agnostic-semantics",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((out / "quality.json").read_text())
    assert [(x["source"], x["target"]) for x in rows] == [("kitchen", "food")] * 5 + [("food", "kitchen")] * 5
    assert {x["model"] for x in rows} == {
        "sasrec",
        "cd-sasrec",
        "semacdr --ablation no-semantics",
        "semacdr",
        "semacdr --ablation no-agnostic-semantics",
    }
    full = [x for x in rows if x["model"] == "semacdr"]
    assert all(x["coverage"]["labels_food"] == 1.0 and x["epochs"] == [1] for x in full)
    for x in rows:
        assert 0 <= x["sampled"]["hr@5"] <= x["sampled"]["hr@10"] <= 1 and 0 <= x["full"]["ndcg@10"] <= 1
    table = (out / "quality.md").read_text().splitlines()
    assert len(table) == 2 + len(rows) and "labels food 100%" in table[5]
