"""The semantic jobs on the real demo importer's store, and the quality bench's measures."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from doubles import FakeScoringBackend
from semantic_fixtures import TAXONOMY
from typer.testing import CliRunner

from semacdr_cli.app import app
from semacdr_cli.ingest import import_demo
from semacdr_cli.labels.stats import nmi

demo = pytest.importorskip("semacdr_cli.datasets.demo")
ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.mark.slow
def test_demo_store_taxonomy_annotate_inspect_and_quality_bench(tmp_path, monkeypatch):
    from semacdr_cli.store import Store

    demo.write_demo(tmp_path / "demo", users=60, items_per_domain=24)
    db = tmp_path / "demo.db"
    with Store(db) as store:
        import_demo(store, tmp_path / "demo")
    tax = tmp_path / "tax.json"
    tax.write_text(json.dumps({"categories": TAXONOMY}))
    assert runner.invoke(app, ["taxonomy", "import", str(tax), "--db", str(db)]).exit_code == 0
    monkeypatch.setattr("semacdr_cli.cli.llm_common.make_backend", lambda *a, **k: FakeScoringBackend())
    r = runner.invoke(app, ["annotate", "--domain", "book", "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["done"] == s["in_scope"] > 0 and s["failed"] == 0 and s["method"] == "score"
    with Store(db) as store:
        ext = store.one(
            "SELECT i.external_id FROM items i JOIN domains d ON d.id = i.domain_id WHERE d.name = 'book'"
        )[0]
        raw = store.one("SELECT description FROM items WHERE external_id = ?", (ext,))[0]
    out = json.loads(runner.invoke(app, ["inspect", "item", ext, "--db", str(db), "--json"]).stdout)
    assert out["item"]["domain"] == "book" and out["item"]["text"] == raw
    bench = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "annotation_quality.py"), "--db", str(db), "--domain", "book",
         "--demo-themes", "--json"],
        check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bench.returncode == 0, bench.stderr
    q = json.loads(bench.stdout)
    assert q["items"] == s["done"] and q["classes"] == 8
    assert all(0.0 <= r["nmi"] <= 1.0 and 0.0 <= r["kmeans_nmi"] <= 1.0 for r in q["per_category"])


def test_nmi_matches_a_hand_computed_example():
    truth = ["a", "a", "b", "b"]
    assert nmi(["x", "x", "y", "y"], truth) == pytest.approx(1.0)
    assert nmi(["x", "y", "x", "y"], truth) == pytest.approx(0.0)
    assert nmi(["x", "x", "x", "x"], truth) == pytest.approx(0.0)
    # pred = [x, x, x, y] vs truth [a, a, b, b]: I = 1/2 ln(4/3)*2... computed by hand below
    pred = ["x", "x", "x", "y"]
    n = 4
    mi = (
        (2 / n) * math.log((2 / n) / ((3 / n) * (2 / n)))
        + (1 / n) * math.log((1 / n) / ((3 / n) * (2 / n)))
        + (1 / n) * math.log((1 / n) / ((1 / n) * (2 / n)))
    )
    hp = -(3 / 4 * math.log(3 / 4) + 1 / 4 * math.log(1 / 4))
    ht = math.log(2)
    assert nmi(pred, truth) == pytest.approx(mi / ((hp + ht) / 2))
    from sklearn.metrics import normalized_mutual_info_score

    assert nmi(pred, truth) == pytest.approx(normalized_mutual_info_score(truth, pred))


def test_planted_theme_is_the_generators_round_robin_theme():
    rng = __import__("random").Random(0)
    items = demo.make_items("book", 16, rng)
    assert all(demo.planted_theme(it["item"]) == it["theme"] for it in items)


def test_quality_table_splits_llm_scored_from_distilled_items(monkeypatch):
    from types import SimpleNamespace

    from semacdr_cli.labels import quality
    from semacdr_cli.store import semantic as sem

    truth = {f"i{n}": "ab"[n % 2] for n in range(8)}
    rows = [  # the LLM's labels follow the class; the distilled ones do not
        {"external_id": f"i{n}", "item_id": n, "method": "score" if n < 4 else "distilled",
         "labels": json.dumps({"Kind": ["x" if (n % 2 if n < 4 else n < 6) else "y"]})}
        for n in range(8)
    ]  # fmt: skip
    monkeypatch.setattr(sem, "get_taxonomy", lambda *a: {"id": 1, "version": 1, "origin": "imported"})
    monkeypatch.setattr(sem, "domain_label_rows", lambda *a: rows)
    monkeypatch.setattr(sem, "taxonomy_tree", lambda *a: [{"name": "Kind", "subcategories": [{}, {}]}])
    store = SimpleNamespace(domain=lambda ds, name: {"id": 1})
    res = quality.quality_table(store, 1, "office", truth, anchors=False)
    parts = res["by_method"]
    assert (parts["score"]["items"], parts["distilled"]["items"]) == (4, 4)
    assert parts["score"]["per_category"][0]["nmi"] == pytest.approx(1.0)
    assert parts["distilled"]["per_category"][0]["nmi"] == pytest.approx(0.0)
    assert 0.0 < res["per_category"][0]["nmi"] < 1.0
