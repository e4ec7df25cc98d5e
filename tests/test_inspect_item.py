"""inspect item and the annotate CLI: labels, description, provenance, failure reason, nearest items."""

from __future__ import annotations

import json

import numpy as np
import pytest
from doubles import FakeBackend
from semantic_fixtures import make_store
from typer.testing import CliRunner

from semacdr_cli.annotate.domain import annotate_domain
from semacdr_cli.app import app
from semacdr_cli.config import AnnotateConfig, EmbedConfig, OutlierConfig
from semacdr_cli.embed import embed_domain
from semacdr_cli.inspect_item import inspect_item

runner = CliRunner()


class WordEncoder:
    """A deterministic bag-of-words encoder standing in for sentence-transformers (no model load)."""

    VOCAB = (
        "coffee",
        "tea",
        "oil",
        "knife",
        "pan",
        "board",
        "kettle",
        "rice",
        "chocolate",
        "grinder",
        "steel",
    )

    def encode(self, texts, **kw):
        out = np.array([[t.lower().count(w) + 0.01 for w in self.VOCAB] for t in texts], dtype="float32")
        return out / np.linalg.norm(out, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "s.db")
    fake = FakeBackend(script={"Maple Syrup": ["{broken"]})
    annotate_domain(
        s,
        1,
        fake,
        AnnotateConfig(method="generate", domain="food", retries=1, outliers=OutlierConfig(enabled=False)),
    )
    for d in ("food", "kitchen"):
        embed_domain(s, 1, EmbedConfig(domain=d), encoder=WordEncoder())
    return s


def test_inspect_by_external_id_shows_labels_description_provenance_and_nearest_other_domain(store):
    info = inspect_item(store, "F0004")  # Roasted Coffee Beans Espresso Blend
    assert info["item"]["domain"] == "food" and info["item"]["title"].startswith("Roasted Coffee")
    assert set(info["labels"]) == {"Target Audience", "Occasion", "Lifestyle"}
    assert info["description"] and info["status"] == "ok"
    p = info["provenance"]
    assert p["taxonomy_version"] == 1 and p["backend"] == "fake" and p["model"] == "fake-model"
    assert len(p["prompt_hash"]) == 64 and p["sampling"]["temperature"] == 0.0
    assert info["nearest"] and all(n["domain"] == "kitchen" for n in info["nearest"])
    assert info["embedding"]["encodes"] == f"title + description of annotation {p['annotation_id']}"
    assert info["nearest"][0]["title"] == "Manual Coffee Grinder Ceramic Burr"
    cos = [n["cosine"] for n in info["nearest"]]
    assert cos == sorted(cos, reverse=True)


def test_inspect_by_store_id_shows_the_failure_reason(store):
    row = store.one("SELECT id FROM items WHERE title LIKE 'Maple%'")
    info = inspect_item(store, str(row["id"]))
    assert info["status"] == "failed" and "not valid JSON" in info["failure_reason"]
    assert info["labels"] == {}
    assert info["embedding"]["encodes"] == "title + raw description"  # a failed annotation has no description


def test_inspect_cli_json_and_unknown_item_error(store, tmp_path):
    db = str(store.path)
    r = runner.invoke(app, ["inspect", "item", "K0002", "--db", db, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {"labels", "description", "provenance", "nearest"} <= set(out)
    assert all(n["domain"] == "food" for n in out["nearest"])
    r = runner.invoke(app, ["inspect", "item", "K0002", "--db", db])
    assert r.exit_code == 0 and "Bamboo Cutting Board" in r.stdout
    r = runner.invoke(app, ["inspect", "item", "NOPE", "--db", db])
    assert r.exit_code == 1 and "no item" in r.stderr


def test_annotate_cli_prints_a_json_summary_and_a_table(tmp_path, monkeypatch):

    make_store(tmp_path / "s.db").close()
    built = []

    def fake_backend(name, model, base_url, batch_size):
        built.append((name, model, batch_size))
        return FakeBackend(script={"Maple Syrup": ["{broken"]})

    monkeypatch.setattr("semacdr_cli.cli.llm_common.make_backend", fake_backend)
    db = str(tmp_path / "s.db")
    r = runner.invoke(app, ["annotate", "--domain", "food", "--limit", "6", "--retries", "1", "--method", "generate",
                            "--db", db, "--json"])  # fmt: skip
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["done"] == 6 and s["failed"] == 0 and s["in_scope"] == 6
    r = runner.invoke(app, ["annotate", "--domain", "food", "--retries", "1", "--batch-size", "4", "--method",
                            "generate", "--db", db])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "failed" in r.stdout and "items/s" in r.stdout
    assert built[-1][2] == 4
    r = runner.invoke(app, ["annotate", "--domain", "toys", "--db", db])
    assert r.exit_code == 1 and "no domain 'toys'" in r.stderr and len(built) == 2
