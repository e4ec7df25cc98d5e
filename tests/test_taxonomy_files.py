"""taxonomy show / export / import from the CLI: round trip, new versions, one-line errors naming the field."""

from __future__ import annotations

import json

import pytest
from doubles import FakeBackend
from semantic_fixtures import TAXONOMY, make_store
from typer.testing import CliRunner

from semacdr_cli.app import app

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def db(tmp_path):
    make_store(tmp_path / "s.db").close()
    return tmp_path / "s.db"


def test_show_json_prints_version_and_categories(db):
    r = cli("taxonomy", "show", "--db", db, "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["version"] == 1
    assert doc["categories"] == [{"name": c["name"], "subcategories": c["subcategories"]} for c in TAXONOMY]


def test_export_edit_import_round_trip_creates_a_new_imported_version(db, tmp_path):
    f = tmp_path / "tax.json"
    assert cli("taxonomy", "export", f, "--db", db).exit_code == 0
    doc = json.loads(f.read_text())
    doc["categories"][0]["subcategories"].append("Seniors")
    f.write_text(json.dumps(doc))
    r = cli("taxonomy", "import", f, "--db", db, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["version"] == 2
    shown = json.loads(cli("taxonomy", "show", "--db", db, "--json").stdout)
    assert shown["version"] == 2 and shown["origin"] == "imported"
    assert shown["categories"][0]["subcategories"][-1] == "Seniors"
    assert shown["categories"][1:] == doc["categories"][1:]
    old = json.loads(cli("taxonomy", "show", "--version", "1", "--db", db, "--json").stdout)
    assert "Seniors" not in old["categories"][0]["subcategories"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"categories": [\n  {"name": "A", "subcategories": ["x", "y", "z"]},\n  oops\n]}',
            "s.json:3: not valid JSON",
        ),
        ('{"categories": [{"name": "A"}]}', "categories[0]: 'subcategories' is a required property"),
        ('{"categories": [{"name": "A", "subcategories": ["x", "y"]}]}', "categories[0].subcategories"),
        ('{"categories": [{"name": "A", "subcategories": ["x", "y", 5]}]}', "categories[0].subcategories[2]"),
        ('{"categories": [{"name": "A", "subcategories": ["x", "y", "z"], "colour": 1}]}', "colour"),
        ('{"categories": [{"name": "A", "subcategories": ["Toy", "toys", "z"]}]}', "duplicate subcategories"),
        (
            '{"categories": [{"name": "A", "subcategories": ["x", "y", "z"]}, {"name": "a", "subcategories": ["x", "y", "z"]}]}',
            "duplicate of category",
        ),
    ],
    ids=[
        "bad-json",
        "missing-field",
        "too-few",
        "wrong-type",
        "unknown-field",
        "dup-subcategory",
        "dup-category",
    ],
)
def test_bad_taxonomy_file_is_a_one_line_error_and_stores_nothing(db, tmp_path, content, expected):
    f = tmp_path / "s.json"
    f.write_text(content)
    r = cli("taxonomy", "import", f, "--db", db)
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and "Traceback" not in r.output
    assert json.loads(cli("taxonomy", "show", "--db", db, "--json").stdout)["version"] == 1


def test_show_without_taxonomy_and_unknown_version_are_one_line_errors(tmp_path, db):
    make_store(tmp_path / "bare.db", taxonomy=None).close()
    r = cli("taxonomy", "show", "--db", tmp_path / "bare.db")
    assert r.exit_code == 1 and "no taxonomy" in r.stderr
    r = cli("taxonomy", "show", "--db", db, "--version", "9")
    assert r.exit_code == 1 and "no taxonomy version 9" in r.stderr


def test_induce_cli_stores_a_valid_k_category_version(db, monkeypatch):

    monkeypatch.setattr(
        "semacdr_cli.cli.llm_common.make_backend", lambda *a, **k: FakeBackend(model="cli-fake")
    )
    r = cli("taxonomy", "induce", "--source", "food", "--target", "kitchen", "-K", "5", "--sample", "4",
            "--method", "propose", "--allow-fallback", "--db", db, "--json")  # fmt: skip
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["version"] == 2 and len(doc["categories"]) == 5
    assert doc["provenance"]["model"] == "cli-fake"


def test_induce_with_unknown_domain_fails_before_loading_a_model(db, monkeypatch):

    def boom(*a, **k):
        raise AssertionError("backend built")

    monkeypatch.setattr("semacdr_cli.cli.llm_common.make_backend", boom)
    r = cli("taxonomy", "induce", "--source", "food", "--target", "toys", "--db", db)
    assert r.exit_code == 1 and "no domain 'toys'" in r.stderr
