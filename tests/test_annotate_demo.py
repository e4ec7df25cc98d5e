"""The semantic jobs on the real demo importer's store, and the quality bench's measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from doubles import FakeBackend
from semantic_fixtures import TAXONOMY
from typer.testing import CliRunner

from semacdr_cli.app import app

demo = pytest.importorskip("semacdr_cli.datasets.demo")
ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.mark.slow
def test_demo_store_taxonomy_annotate_inspect_and_quality_bench(tmp_path, monkeypatch):
    import semacdr_cli.cli.annotate as ann_cli
    from semacdr_cli.store import Store

    demo.write_demo(tmp_path / "demo", users=60, items_per_domain=24)
    db = tmp_path / "demo.db"
    with Store(db) as store:
        demo.import_demo(store, tmp_path / "demo")
    tax = tmp_path / "tax.json"
    tax.write_text(json.dumps({"categories": TAXONOMY}))
    assert runner.invoke(app, ["taxonomy", "import", str(tax), "--db", str(db)]).exit_code == 0
    monkeypatch.setattr(ann_cli, "make_backend", lambda *a, **k: FakeBackend())
    r = runner.invoke(app, ["annotate", "--domain", "book", "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["done"] == s["in_scope"] > 0 and s["failed"] == 0
    with Store(db) as store:
        ext = store.one("SELECT i.external_id FROM items i JOIN domains d ON d.id = i.domain_id WHERE d.name = 'book'")[0]
        raw = store.one("SELECT description FROM items WHERE external_id = ?", (ext,))[0]
    out = json.loads(runner.invoke(app, ["inspect", "item", ext, "--db", str(db), "--json"]).stdout)
    assert out["item"]["domain"] == "book" and out["item"]["text"] == raw and out["labels"]
    bench = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "annotation_quality.py"), "--db", str(db), "--domain", "book",
         "--attribute", "category", "--level", "0", "--json"],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    q = json.loads(bench.stdout)
    assert q["items"] == s["done"]
    assert all(0.0 <= r["purity"] <= 1.0 and 0.0 <= r["nmi"] <= 1.0 for r in q["per_category"])


def test_purity_and_nmi_reward_labels_that_match_the_ground_truth():
    sys.path.insert(0, str(ROOT / "bench"))
    from annotation_quality import purity
    from sklearn.metrics import normalized_mutual_info_score

    truth = ["a", "a", "b", "b", "c", "c"]
    assert purity(["x", "x", "y", "y", "z", "z"], truth) == 1.0
    assert purity(["x"] * 6, truth) == pytest.approx(1 / 3)
    assert normalized_mutual_info_score(truth, ["x", "x", "y", "y", "z", "z"]) == pytest.approx(1.0)
