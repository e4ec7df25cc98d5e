"""Fuzzing the files a user hands over: taxonomy files (`taxonomy import`) and TOML configs (`--config`
of annotate, taxonomy induce, embed and train). Any shape or type gives a result or one line naming the
file (and the key at fault), a non-zero exit, no traceback, the store unchanged."""

from __future__ import annotations

import json
import shutil
import tempfile
import traceback
from pathlib import Path

import pytest
from data_helpers import cli, snapshot
from fuzzing import NASTY, any_text, examples, json_values
from hypothesis import given
from hypothesis import strategies as st
from semantic_fixtures import TAXONOMY, make_store

from semacdr_cli.errors import SemacdrError
from trainer.config import TrainConfig, load_config

pytestmark = pytest.mark.fuzz


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz-files") / "base.db"
    make_store(path).close()
    return path


def assert_one_line(result, file: Path, db: Path, before: str) -> str:
    assert isinstance(result.exception, SystemExit), "".join(traceback.format_exception(result.exception))[
        -1500:
    ]
    lines = [ln for ln in result.output.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert snapshot(db) == before
    return lines[0]


def names_a_key(message: str, toml_text: str) -> bool:
    """Whether ``message`` names one of the keys the TOML text sets (as key or as option)."""
    keys = [ln.split("=", 1)[0].strip() for ln in toml_text.splitlines() if "=" in ln]
    low = message.lower()
    return any(k and (k.lower() in low or k.replace("_", "-").lower() in low) for k in keys)


@st.composite
def taxonomy_docs(draw):
    """A taxonomy document near a valid one: categories dropped, doubled, renamed, retyped."""
    cats = []
    for c in TAXONOMY + [{"name": "Style", "subcategories": ["Modern", "Classic", "Rustic"]}]:
        kind = draw(st.integers(0, 9))
        if kind == 0:
            continue
        cat = {"name": c["name"], "subcategories": list(c["subcategories"])}
        if kind == 1:
            cat["name"] = draw(st.one_of(any_text, st.sampled_from(NASTY), json_values))
        elif kind == 2:
            cat["subcategories"] = draw(st.one_of(st.lists(st.one_of(any_text, st.sampled_from(NASTY)), max_size=12),
                                                  json_values))  # fmt: skip
        elif kind == 3:
            cat[draw(st.sampled_from(["description", "extra", "name"]))] = draw(json_values)
        elif kind == 4:
            cats.append(dict(cat))
        cats.append(cat)
    doc = {"categories": cats}
    if draw(st.booleans()):
        doc[draw(st.sampled_from(["version", "domains", "origin", "x"]))] = draw(json_values)
    return doc


file_text = st.one_of(
    taxonomy_docs().map(json.dumps),
    json_values.map(json.dumps),
    any_text,
    st.just("[" * 50_000),
)


@examples(100)
@given(text=file_text, raw=st.none() | st.binary(max_size=40))
def test_any_taxonomy_file_is_imported_or_refused_in_one_line_naming_it(base, text, raw):
    with tempfile.TemporaryDirectory() as tmp:
        db, file = Path(tmp) / "s.db", Path(tmp) / "taxonomy.json"
        shutil.copy(base, db)
        file.write_bytes(raw if raw is not None else text.encode("utf-8"))
        before = snapshot(db)
        result = cli("taxonomy", "import", file, "--db", db)
        if result.exit_code == 0:
            assert snapshot(db) != before  # a new version stored
            return
        line = assert_one_line(result, file, db, before)
        assert str(file) in line, line


# the options each semantic command takes from a config file, with a value of the right type
SEMANTIC = {
    "annotate": (["annotate", "--domain", "food", "--backend", "transformers", "--model", "{missing}"],
                 {"limit": 5, "method": "score", "retries": 2, "label_threshold": 0.5, "max_labels": 2,
                  "temperature": 0.0, "seed": 1, "order": "popular", "distill": 0, "describe": True}),
    "taxonomy": (["taxonomy", "induce", "--source", "food", "--target", "kitchen", "--backend", "transformers", "--model", "{missing}"],
                 {"k": 5, "method": "facets", "seed": 1, "temperature": 0.2, "sample_items": 20}),
    "embed": (["embed", "--domain", "food", "--model", "{missing}"], {"batch_size": 8}),
}  # fmt: skip
toml_values = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), any_text,
    st.lists(st.integers(), max_size=3), st.sampled_from(NASTY),
)  # fmt: skip


def toml_literal(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_literal(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string is a JSON string (escapes included)


@st.composite
def toml_docs(draw, known: dict):
    """TOML text setting known keys (right or wrong type) and unknown ones, or text that is not TOML."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.one_of(any_text, st.binary(max_size=30).map(lambda b: b.decode("latin-1"))))
    keys = draw(
        st.lists(
            st.one_of(
                st.sampled_from(sorted(known)),
                st.sampled_from(sorted(known)),
                st.from_regex(r"[a-z_-]{1,12}", fullmatch=True),
            ),
            max_size=5,
            unique=True,
        )
    )
    lines = []
    for k in keys:
        value = known[k] if k in known and draw(st.booleans()) else draw(toml_values)
        lines.append(f"{k} = {toml_literal(value)}")
    return "\n".join(lines) + "\n"


@examples(40)
@given(data=st.data())
@pytest.mark.parametrize("command", sorted(SEMANTIC))
def test_any_config_file_of_a_semantic_command_is_one_line_naming_the_file_or_key(base, command, data):
    args, known = SEMANTIC[command]
    text = data.draw(toml_docs(known), label="toml")
    with tempfile.TemporaryDirectory() as tmp:
        db, file = Path(tmp) / "s.db", Path(tmp) / "job.toml"
        shutil.copy(base, db)
        file.write_bytes(text.encode("utf-8", errors="surrogateescape"))
        before = snapshot(db)
        argv = [a.replace("{missing}", str(Path(tmp) / "no-model")) for a in args]
        result = cli(*argv, "--config", file, "--db", db)
        assert result.exit_code != 0  # a valid config still meets the missing model
        line = assert_one_line(result, file, db, before)
        assert str(file) in line or "no-model" in line or names_a_key(line, text), line


@examples(150)
@given(data=st.data())
def test_any_train_config_file_is_a_config_or_one_line_naming_the_file_and_key(data):
    known = {k: v for k, v in TrainConfig().to_dict().items() if isinstance(v, bool | int | float | str)}
    text = data.draw(toml_docs(known), label="toml")
    if data.draw(st.booleans(), label="in [train]"):
        text = "[train]\n" + text
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "train.toml"
        file.write_bytes(text.encode("utf-8", errors="surrogateescape"))
        try:
            cfg = load_config(file)
        except SemacdrError as exc:
            assert "\n" not in exc.message
            assert (
                str(file) in exc.message or names_a_key(exc.message, text) or exc.message.startswith("--")
            ), exc.message
        else:
            assert isinstance(cfg, TrainConfig)
