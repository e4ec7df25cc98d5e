"""Prompt templates and schemas as data files: rendering, hashes in provenance, --prompts DIR override."""

from __future__ import annotations

import json

import pytest
from doubles import FakeBackend
from semantic_fixtures import make_store

from semacdr_cli.annotate.domain import annotate_domain
from semacdr_cli.config import AnnotateConfig, OutlierConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.prompting import bundled_prompts_dir, load_schema, load_template, schema_hash


def test_every_bundled_template_renders_and_every_schema_is_valid():
    names = sorted(p.stem for p in bundled_prompts_dir().glob("*.txt"))
    assert names == ["annotate", "annotate_score", "describe", "taxonomy_consolidate", "taxonomy_facet",
                     "taxonomy_facet_shot", "taxonomy_propose", "taxonomy_refine"]  # fmt: skip
    for name in names:
        t = load_template(name)
        chat = t.render(**{v: f"<{v}>" for v in t.variables})
        assert [m["role"] for m in chat][:2] == ["system", "user"]
        assert chat[-1]["role"] in ("user", "assistant")  # an assistant turn last is an answer prefix
        assert all("{{" not in m["content"] for m in chat)
    for p in bundled_prompts_dir().glob("*.schema.json"):
        assert load_schema(p.name.removesuffix(".schema.json"))["$schema"].endswith("2020-12/schema")


def test_values_are_substituted_once_so_item_text_cannot_inject_placeholders():
    t = load_template("annotate")
    values = {v: "x" for v in t.variables}
    values["item"] = "Title: {{taxonomy}} {not a field}"
    chat = t.render(**values)
    assert "Title: {{taxonomy}} {not a field}" in chat[1]["content"]


def test_missing_value_and_bad_override_are_one_line_errors(tmp_path):
    with pytest.raises(SemacdrError, match="needs values"):
        load_template("annotate").render(domain="food")
    (tmp_path / "annotate.schema.json").write_text("{not json")
    with pytest.raises(SemacdrError, match="annotate.schema.json:1: not valid JSON"):
        load_schema("annotate", tmp_path)
    with pytest.raises(SemacdrError, match="not a folder"):
        load_template("annotate", tmp_path / "missing")


def test_prompts_dir_overrides_the_template_and_its_hash_lands_in_provenance(tmp_path):
    custom = tmp_path / "prompts"
    custom.mkdir()
    text = load_template("annotate").text.replace("You annotate products", "You annotate goods carefully")
    (custom / "annotate.txt").write_text(text)
    store = make_store(tmp_path / "s.db")
    fake = FakeBackend()
    cfg = AnnotateConfig(
        method="generate",
        domain="food",
        limit=2,
        prompts_dir=str(custom),
        outliers=OutlierConfig(enabled=False),
    )
    annotate_domain(store, 1, fake, cfg)
    assert "annotate goods carefully" in fake.calls[0][0][0]["content"]
    row = store.one("SELECT prompt_hash, schema_hash FROM annotations LIMIT 1")
    assert row["prompt_hash"] == load_template("annotate", custom).hash != load_template("annotate").hash
    sent = fake.calls[0][1].json_schema
    assert row["schema_hash"] == schema_hash(sent)
    assert json.dumps(sent["properties"]["labels"]["required"]) == json.dumps(
        ["Target Audience", "Occasion", "Lifestyle"]
    )
