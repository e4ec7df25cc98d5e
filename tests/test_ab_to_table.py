"""bench/ab_to_table.py: an A/B arm's runs join a bench table only where they trained what its row trains."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import ab_to_table  # noqa: E402
import paper_table  # noqa: E402


def _ab_run(arm, seed, run, semantics="FP", direction="kitchen:food"):
    m = {"ndcg@5": 0.1, "ndcg@10": 0.2, "hr@5": 0.3, "hr@10": 0.4}
    return {
        "arm": arm, "direction": direction, "seed": seed, "run": run, "semantics": semantics, "sampled": m,
        "full": m, "train": {"epochs": 45, "hit_cap": False}, "wall_seconds": 900.0, "threads": 1,
        "machine": {"cpu": "Test CPU (avx2)"},
    }  # fmt: skip


@pytest.fixture
def table_doc():
    inputs = {"taxonomy": {"categories": {"Genre": ["A"]}}, "domains": {}}
    table_doc = {"runs": []}
    paper_table.adopt_store_inputs(table_doc, "fixes", inputs)
    fp = table_doc["table_semantics"]["fixes"]["fingerprint"]
    table_doc["runs"].append(
        {"row": "semacdr", "table": "fixes", "direction": "kitchen:food", "seed": 42, "semantics": fp}
    )
    return table_doc


def test_the_fixes_arm_joins_the_fixes_table_as_its_semacdr_row_naming_where_each_run_came_from(table_doc):
    fp = table_doc["table_semantics"]["fixes"]["fingerprint"]
    ab = {"runs": [_ab_run("fixes", 42, 17, fp), _ab_run("fixes", 43, 19, fp), _ab_run("paper", 43, 20, fp)]}
    added = ab_to_table.copy_arm(ab, table_doc, "fixes", "semacdr", "ab.json")
    assert [(r["seed"], r["from_ab"]) for r in added] == [
        (43, "ab.json run 19")
    ]  # 42 was there; paper is not
    [new] = added
    assert (new["row"], new["table"], new["preset"], new["loss"]) == ("semacdr", "fixes", "fixes", "full")
    assert new in paper_table.current_runs(table_doc, "fixes")
    assert table_doc["machine"][new["machine"]]["cpu"] == "Test CPU (avx2)"


def test_runs_on_other_semantic_inputs_or_an_arm_with_keys_of_its_own_are_refused(table_doc):
    with pytest.raises(SystemExit, match="semantic inputs OTHER are not table 'fixes'"):
        ab_to_table.copy_arm(
            {"runs": [_ab_run("fixes", 44, 21, "OTHER")]}, table_doc, "fixes", "semacdr", "ab.json"
        )
    with pytest.raises(SystemExit, match="does not train row 'semacdr'"):
        ab_to_table.copy_arm({"runs": []}, table_doc, "no-user", "semacdr", "ab.json")
    with pytest.raises(SystemExit, match="does not train row 'no-inner'"):
        ab_to_table.copy_arm({"runs": []}, table_doc, "fixes", "no-inner", "ab.json")
