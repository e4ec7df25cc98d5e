"""Every bad-input case of issue 2, through the CLI: one line naming the file (and line), a non-zero
exit, no traceback, and the store exactly as it was before (its full SQL dump is unchanged)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
from data_helpers import FIXTURES, SMALL_FILTERS, amazon_args, cli, snapshot


@pytest.fixture
def store(tmp_path) -> Path:
    """A store that already holds one dataset, so that 'unchanged' means something."""
    db = tmp_path / "store.db"
    result = cli("data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--db", db, "--name", "base")
    assert result.exit_code == 0, result.output
    return db


def copy(name: str, tmp_path: Path) -> Path:
    dst = tmp_path / name
    shutil.copytree(FIXTURES / name, dst)
    return dst


def assert_refused(db: Path, args: list, *needles: str) -> str:
    before = snapshot(db)
    result = cli(*args, "--db", db)
    assert result.exit_code != 0
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert snapshot(db) == before
    return lines[0]


def test_malformed_json_line_names_file_and_line(store, tmp_path):
    folder = copy("amazon2018", tmp_path)
    path = folder / "Home_and_Kitchen.json.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines()
    lines[2] = lines[2][:-7]  # cut the closing part of line 3
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    assert_refused(
        store,
        [
            "data",
            "import",
            "amazon",
            *amazon_args(folder, "2018"),
            "--domains",
            "food,kitchen",
            *SMALL_FILTERS,
        ],
        "Home_and_Kitchen.json.gz:3",
        "malformed JSON",
    )


def test_malformed_python_literal_meta_line_names_file_and_line(store, tmp_path):
    folder = copy("amazon2014", tmp_path)
    path = folder / "meta_Home_and_Kitchen.json.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines()
    lines[1] = lines[1].replace(b"'title'", b"'title")
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    assert_refused(
        store,
        [
            "data",
            "import",
            "amazon",
            *amazon_args(folder, "2014"),
            "--domains",
            "food,kitchen",
            *SMALL_FILTERS,
        ],
        "meta_Home_and_Kitchen.json.gz:2",
    )


def test_missing_column_names_file_and_column(store, tmp_path):
    folder = copy("csv", tmp_path)
    path = folder / "interactions_kitchen.csv"
    text = path.read_text().splitlines()
    rows = ["user,when,rating"] + [",".join(r.split(",")[i] for i in (0, 2, 3)) for r in text[1:]]
    path.write_text("\n".join(rows) + "\n")
    assert_refused(
        store, ["data", "import", "csv", folder, *SMALL_FILTERS], "interactions_kitchen.csv:1", "item"
    )


def test_missing_field_in_a_jsonl_review_names_the_field(store, tmp_path):
    folder = copy("amazon2023", tmp_path)
    path = folder / "Grocery_and_Gourmet_Food.jsonl"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace('"user_id"', '"uid"')
    path.write_text("\n".join(lines) + "\n")
    assert_refused(
        store,
        [
            "data",
            "import",
            "amazon",
            *amazon_args(folder, "2023"),
            "--domains",
            "food,kitchen",
            *SMALL_FILTERS,
        ],
        "Grocery_and_Gourmet_Food.jsonl:4",
        "user_id",
    )


def test_unknown_format_is_refused(store, tmp_path):
    assert_refused(store, ["data", "import", "parquet", FIXTURES / "csv"], "unknown format", "parquet")


def test_empty_gzip_file_is_refused(store, tmp_path):
    folder = copy("amazon2018", tmp_path)
    (folder / "Grocery_and_Gourmet_Food.json.gz").write_bytes(gzip.compress(b""))
    assert_refused(
        store,
        [
            "data",
            "import",
            "amazon",
            *amazon_args(folder, "2018"),
            "--domains",
            "food,kitchen",
            *SMALL_FILTERS,
        ],
        "Grocery_and_Gourmet_Food.json.gz",
        "empty",
    )


def test_zero_byte_file_is_refused(store, tmp_path):
    folder = copy("llmcdsr", tmp_path)
    (folder / "valid.txt.gz").write_bytes(b"")
    assert_refused(store, ["data", "import", "llmcdsr", folder], "valid.txt.gz", "empty")


def test_truncated_gzip_file_is_refused(store, tmp_path):
    folder = copy("amazon2018", tmp_path)
    path = folder / "meta_Home_and_Kitchen.json.gz"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    assert_refused(
        store,
        [
            "data",
            "import",
            "amazon",
            *amazon_args(folder, "2018"),
            "--domains",
            "food,kitchen",
            *SMALL_FILTERS,
        ],
        "meta_Home_and_Kitchen.json.gz",
        "truncated",
    )


def test_non_utf8_bytes_name_file_and_line(store, tmp_path):
    folder = copy("csv", tmp_path)
    path = folder / "items_food.tsv"
    lines = path.read_bytes().splitlines()
    lines[2] = lines[2].replace(b"Dark", b"D\xffrk")
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert_refused(store, ["data", "import", "csv", folder, *SMALL_FILTERS], "items_food.tsv:3", "UTF-8")


def test_non_utf8_bytes_in_a_json_line_name_file_and_line(store, tmp_path):
    folder = copy("amazon2023", tmp_path)
    path = folder / "meta_Home_and_Kitchen.jsonl"
    lines = path.read_bytes().splitlines()
    lines[0] = lines[0].replace(b"Skillet", b"Skill\xe9t")
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert_refused(
        store,
        [
            "data",
            "import",
            "amazon",
            *amazon_args(folder, "2023"),
            "--domains",
            "food,kitchen",
            *SMALL_FILTERS,
        ],
        "meta_Home_and_Kitchen.jsonl:1",
        "UTF-8",
    )


def test_item_in_a_sequence_without_an_item_row_is_refused(store, tmp_path):
    folder = copy("llmcdsr", tmp_path)
    path = folder / "test.txt.gz"
    lines = gzip.decompress(path.read_bytes()).splitlines()
    lines[0] += b",4242"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    assert_refused(store, ["data", "import", "llmcdsr", folder], "test.txt.gz:1", "4242")


def test_item_in_csv_interactions_without_an_item_row_is_refused(store, tmp_path):
    folder = copy("csv", tmp_path)
    path = folder / "interactions_food.csv"
    path.write_text(path.read_text() + "A,NOPE,1500000000,5\n")
    line_no = len(path.read_text().splitlines())
    assert_refused(
        store, ["data", "import", "csv", folder, *SMALL_FILTERS], f"interactions_food.csv:{line_no}", "NOPE"
    )


def test_conflicting_duplicate_item_rows_are_refused(store, tmp_path):
    folder = copy("csv", tmp_path)
    path = folder / "items_kitchen.tsv"
    path.write_text(path.read_text() + "K2\tA different knife\tA thing.\tShop > Misc\tAcme\n")
    line_no = len(path.read_text().splitlines())
    assert_refused(
        store, ["data", "import", "csv", folder, *SMALL_FILTERS], f"items_kitchen.tsv:{line_no}", "K2"
    )


def test_identical_duplicate_item_rows_are_accepted(store, tmp_path):
    folder = copy("csv", tmp_path)
    path = folder / "items_kitchen.tsv"
    path.write_text(path.read_text() + path.read_text().splitlines()[2] + "\n")
    result = cli("data", "import", "csv", folder, *SMALL_FILTERS, "--db", store, "--name", "dup")
    assert result.exit_code == 0, result.output


def test_missing_path_is_refused(store, tmp_path):
    assert_refused(
        store, ["data", "import", "csv", tmp_path / "nowhere", *SMALL_FILTERS], "nowhere", "no such"
    )


def test_missing_amazon_file_is_refused(store, tmp_path):
    folder = copy("amazon2018", tmp_path)
    (folder / "meta_Grocery_and_Gourmet_Food.json.gz").unlink()
    assert_refused(
        store,
        [
            "data",
            "import",
            "amazon",
            *amazon_args(folder, "2018"),
            "--domains",
            "food,kitchen",
            *SMALL_FILTERS,
        ],
        "meta_Grocery_and_Gourmet_Food.json.gz",
        "no such",
    )


def test_existing_dataset_name_is_refused_without_replace(store, tmp_path):
    assert_refused(
        store,
        ["data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--name", "base"],
        "base",
        "--replace",
    )
