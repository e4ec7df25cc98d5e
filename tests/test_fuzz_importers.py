"""Fuzzing `semacdr data import` for every format: a copy of the format's fixture with one file
mutated at random (a line replaced, a field retyped, cut short, dropped or doubled, stray bytes,
another encoding, an empty file) either imports or is refused with one line naming the file, a
non-zero exit, no traceback and the store exactly as it was (its full SQL dump unchanged)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
import sqlite3
import tempfile
import traceback
from pathlib import Path

import pytest
from data_helpers import FIXTURES, SMALL_FILTERS, amazon_args, cli, snapshot
from fuzzing import NASTY, any_text, examples, json_values
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.fuzz

# format -> (fixture folder, the arguments after `data import` for a folder holding its files)
FORMATS = {
    "csv": ("csv", lambda f: ["csv", f, *SMALL_FILTERS]),
    "jsonl": ("jsonl", lambda f: ["csv", f, *SMALL_FILTERS]),
    "llmcdsr": ("llmcdsr", lambda f: ["llmcdsr", f]),
    "c2dsr": ("c2dsr", lambda f: ["c2dsr", f]),
    **{
        f"amazon{r}": (f"amazon{r}", lambda f, r=r: ["amazon", *amazon_args(f, r), "--domains", "food,kitchen",
                                                     *SMALL_FILTERS])
        for r in ("2014", "2018", "2023")
    },
}  # fmt: skip
JSON_ESCAPES = ['"\\ud800"', '"\\u0000"', '"\\udfff\\ud800"', "[" * 5000, "1e99999", '{"a": NaN}']


def _as_jsonl(src: Path, dst: Path) -> None:
    """The csv fixture in the generic layout's JSON-lines form (the same rows)."""
    dst.mkdir()
    for p in src.iterdir():
        delimiter = "\t" if p.suffix == ".tsv" else ","
        rows = list(csv.DictReader(io.StringIO(p.read_text(encoding="utf-8")), delimiter=delimiter))
        (dst / (p.stem + ".jsonl")).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-sources")
    for name in {d for d, _ in FORMATS.values()} - {"jsonl"}:
        shutil.copytree(FIXTURES / name, root / name)
    _as_jsonl(FIXTURES / "csv", root / "jsonl")
    base = root / "base.db"
    assert (
        cli(
            "data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--db", base, "--name", "base"
        ).exit_code
        == 0
    )
    return root


@st.composite
def mutated(draw, content: bytes, name: str) -> bytes:
    lines = content.split(b"\n")
    i = draw(st.integers(0, max(0, len(lines) - 1)))
    kind = draw(st.sampled_from(["replace", "field", "field", "json", "cut", "drop", "double", "bytes",
                                 "empty", "encoding"]))  # fmt: skip
    if kind == "replace":
        lines[i] = draw(st.one_of(any_text, st.sampled_from(JSON_ESCAPES))).encode("utf-8")
    elif kind == "field":
        sep = b"\t" if b"\t" in lines[i] else (b"|" if b"|" in lines[i] else b",")
        parts = lines[i].split(sep)
        j = draw(st.integers(0, len(parts)))
        value = draw(
            st.one_of(any_text, st.sampled_from(NASTY + ["", "-1", "0", "1e308", "nan", "2024-13-45"]))
        )
        parts[j : j + draw(st.integers(0, 1))] = [value.encode("utf-8")]
        lines[i] = sep.join(parts)
    elif kind == "json":
        try:
            obj = json.loads(lines[i])
        except ValueError:
            obj = None
        if isinstance(obj, dict) and obj:
            key = draw(st.sampled_from(sorted(obj)))
            if draw(st.booleans()):
                del obj[key]
            else:
                obj[key] = draw(json_values)
            lines[i] = json.dumps(obj, ensure_ascii=draw(st.booleans())).encode("utf-8")
        else:
            lines[i] = json.dumps(draw(json_values)).encode("utf-8")
    elif kind == "cut":
        return content[: draw(st.integers(0, len(content)))]
    elif kind == "drop":
        del lines[i]
    elif kind == "double":
        lines.insert(i, lines[i])
    elif kind == "bytes":
        at = draw(st.integers(0, len(content)))
        return content[:at] + draw(st.binary(min_size=1, max_size=8)) + content[at:]
    elif kind == "empty":
        return b""
    else:
        codec = draw(st.sampled_from(["utf-16", "latin-1", "cp1252", "utf-8-sig"]))
        return content.decode("utf-8").replace("e", "é").encode(codec, errors="replace")
    return b"\n".join(lines)


def assert_store_sound(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


@examples(30)
@given(data=st.data())
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_mutated_input_file_imports_or_is_refused_in_one_line_naming_it(sources, fmt, data):
    folder_name, args = FORMATS[fmt]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / folder_name
        shutil.copytree(sources / folder_name, folder)
        victim = data.draw(st.sampled_from(sorted(p.name for p in folder.iterdir())), label="file")
        path = folder / victim
        gz = victim.endswith(".gz")
        content = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
        new = data.draw(mutated(content, victim), label="content")
        path.write_bytes(gzip.compress(new) if gz else new)
        db = Path(tmp) / "store.db"
        shutil.copy(sources / "base.db", db)
        before = snapshot(db)
        result = cli("data", "import", *args(folder), "--db", db, "--name", "fuzz")
        if result.exit_code == 0:
            assert_store_sound(db)
            return
        assert isinstance(result.exception, SystemExit), "".join(
            traceback.format_exception(result.exception)
        )[-1500:]
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert "Traceback" not in result.output
        assert any(name in lines[0] for name in (victim, str(folder))), (victim, lines[0])
        assert snapshot(db) == before
