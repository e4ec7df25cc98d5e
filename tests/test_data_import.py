"""Every importer on the small fixtures of tests/fixtures/data, and the App. B preprocessing.

The fixtures all encode one story (tests/fixtures/data/make_fixtures.py); expectations are derived
from that story, so every importer must agree with it and with the others.
"""

from __future__ import annotations

import importlib.util
import json
import sqlite3

import pytest
from data_helpers import FIXTURES, SMALL_FILTERS, amazon_args, cli, sequences

from semacdr_cli.ingest import import_dataset
from semacdr_cli.store import Store

_spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
story = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(story)


def expected_sequences(drop_items=(), drop_users=(), prefix=None):
    """The story after dedupe and dropping items/users: user -> [(domain, item), ...]."""
    out = {}
    for u, seq in story.STORY.items():
        if u in drop_users:
            continue
        seen, kept = set(), []
        for d, item in seq:
            if item in drop_items or item in seen:
                continue
            seen.add(item)
            kept.append((d, item))
        out[prefix(u) if prefix else u] = kept
    return out


def expected_split(seq):
    """Leave-one-out per domain with the documented rule for short sequences."""
    splits = [None] * len(seq)
    for d in {dom for dom, _ in seq}:
        idx = [k for k, (dom, _) in enumerate(seq) if dom == d]
        for r, k in enumerate(reversed(idx)):
            splits[k] = "test" if r == 0 else ("valid" if r == 1 and len(idx) >= 3 else "train")
    return splits


def assert_story(got, want):
    assert set(got) == set(want)
    for u, seq in want.items():
        assert [(d, i) for d, i, _ in got[u]] == seq, u
        assert [s for _, _, s in got[u]] == expected_split(seq), u


# amazon, with the thresholds lowered to fit the tiny fixture: F9 (1 review) goes, F5 has no metadata,
# then H keeps one food item (< 2) and G is food-only: both users go.
AMAZON_EXPECTED = {"drop_items": {"F5", "F9"}, "drop_users": {"G", "H"}}


@pytest.mark.parametrize("release", ["2014", "2018", "2023"])
def test_amazon_release_import_follows_the_story(db_path, release):
    result = cli(
        "data",
        "import",
        "amazon",
        *amazon_args(FIXTURES / f"amazon{release}", release),
        "--domains",
        "food,kitchen",
        *SMALL_FILTERS,
        "--db",
        db_path,
        "--name",
        "fk",
    )
    assert result.exit_code == 0, result.output
    assert_story(sequences(db_path, "fk"), expected_sequences(**AMAZON_EXPECTED))
    conn = sqlite3.connect(db_path)
    title, cats, brand = conn.execute(
        "SELECT title, categories, brand FROM items WHERE external_id = 'K2'"
    ).fetchone()
    assert title == story.TITLES["K2"]
    assert json.loads(cats)[0] == "Home_and_Kitchen"
    assert brand == "Acme"


def test_amazon_import_reports_what_each_step_removed(db_path):
    result = cli(
        "data",
        "import",
        "amazon",
        *amazon_args(FIXTURES / "amazon2018", "2018"),
        "--domains",
        "food,kitchen",
        *SMALL_FILTERS,
        "--db",
        db_path,
        "--json",
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    removed = {s["step"]: s["removed_interactions"] for s in out["preprocessing"]["steps"]}
    assert removed["duplicates"] == 1  # E's second F1
    assert removed["items without metadata"] == sum(
        1 for seq in story.STORY.values() for _, i in seq if i == "F5"
    )
    assert removed["users not in every domain"] > 0
    assert out["preprocessing"]["rounds"] >= 2
    stored = json.loads(sqlite3.connect(db_path).execute("SELECT params FROM datasets").fetchone()[0])
    assert stored["preprocessing"] == out["preprocessing"]
    assert stored["flags"]["min_item"] == 2


def test_amazon_default_thresholds_are_the_papers(db_path):
    result = cli(
        "data",
        "import",
        "amazon",
        *amazon_args(FIXTURES / "amazon2018", "2018"),
        "--domains",
        "food,kitchen",
        "--db",
        db_path,
    )
    # every fixture item has < 10 reviews: the paper's filters leave nothing, and say so
    assert result.exit_code != 0
    assert "no interactions are left" in result.output


def test_csv_import_agrees_with_amazon(db_path):
    result = cli(
        "data",
        "import",
        "csv",
        FIXTURES / "csv",
        "--domains",
        "food,kitchen",
        *SMALL_FILTERS,
        "--db",
        db_path,
        "--name",
        "c",
    )
    assert result.exit_code == 0, result.output
    assert_story(sequences(db_path, "c"), expected_sequences(**AMAZON_EXPECTED))
    conn = sqlite3.connect(db_path)
    assert json.loads(conn.execute("SELECT categories FROM items WHERE external_id='F1'").fetchone()[0]) == [
        "Shop",
        "Misc",
    ]
    assert conn.execute("SELECT count(*) FROM interactions WHERE timestamp IS NULL").fetchone()[0] == 0


def _llm_prefix():
    users = [u for u in story.STORY if u != "G"]
    files = {u: ("train_overlap" if k < 3 else "valid" if k < 5 else "test") for k, u in enumerate(users)}
    ranks = {}
    for u in users:
        ranks[u] = sum(1 for v in users[: users.index(u)] if files[v] == files[u]) + 1
    return lambda u: f"{files[u]}:{ranks[u]}"


def test_llmcdsr_pools_overlapped_files_without_filtering(db_path):
    result = cli("data", "import", "llmcdsr", FIXTURES / "llmcdsr", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "llmcdsr" in result.output  # the default name is printed
    want = expected_sequences(drop_items={"F5"}, drop_users={"G"}, prefix=_llm_prefix())
    assert_story(sequences(db_path, "llmcdsr"), want)


def test_llmcdsr_all_users_adds_single_domain_users(db_path):
    result = cli(
        "data", "import", "llmcdsr", FIXTURES / "llmcdsr", "--all-users", "--db", db_path, "--name", "x"
    )
    assert result.exit_code == 0, result.output
    got = sequences(db_path, "x")
    assert [i for _, i, _ in got["train_A:1"]] == [i for _, i in story.STORY["G"]]


def test_llmcdsr_filters_only_when_asked(db_path):
    result = cli(
        "data",
        "import",
        "llmcdsr",
        FIXTURES / "llmcdsr",
        "--filter",
        *SMALL_FILTERS,
        "--db",
        db_path,
        "--name",
        "f",
    )
    assert result.exit_code == 0, result.output
    want = expected_sequences(drop_items={"F5", "F9"}, drop_users={"G", "H"}, prefix=_llm_prefix())
    assert_story(sequences(db_path, "f"), want)


def test_c2dsr_orders_events_by_their_time(db_path):
    result = cli(
        "data",
        "import",
        "c2dsr",
        FIXTURES / "c2dsr",
        "--domains",
        "food,kitchen",
        "--db",
        db_path,
        "--name",
        "c2",
    )
    assert result.exit_code == 0, result.output
    got = sequences(db_path, "c2")
    by_story = {tuple((d, i) for d, i, _ in seq) for seq in got.values()}
    want = {tuple(seq) for seq in expected_sequences(drop_items={"F5"}, drop_users={"G"}).values()}
    assert by_story == want


def test_replace_overwrites_and_refuses_without_it(db_path):
    args = ["data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--db", db_path, "--name", "same"]
    assert cli(*args).exit_code == 0
    again = cli(*args)
    assert again.exit_code != 0 and "--replace" in again.output
    replaced = cli(*args, "--replace")
    assert replaced.exit_code == 0, replaced.output
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM datasets").fetchone()[0] == 1
    n_users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    assert n_users == len(expected_sequences(**AMAZON_EXPECTED))


def test_import_dataset_is_callable_as_a_library(tmp_path):
    with Store(tmp_path / "lib.db") as store:
        res = import_dataset(store, "csv", FIXTURES / "csv", min_item=2, min_user=2, name="lib")
        assert res.domains == ["food", "kitchen"]
        assert res.counts["users"] == len(expected_sequences(**AMAZON_EXPECTED))
        assert store.dataset("lib")["format"] == "csv"
        assert store.one("PRAGMA foreign_keys")[0] == 1  # the bulk load switched the checks back on


def test_imported_rows_satisfy_every_foreign_key(db_path):
    for name in ("a", "b"):
        assert (
            cli(
                "data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--db", db_path, "--name", name
            ).exit_code
            == 0
        )
    assert (
        cli(
            "data",
            "import",
            "csv",
            FIXTURES / "csv",
            *SMALL_FILTERS,
            "--db",
            db_path,
            "--name",
            "a",
            "--replace",
        ).exit_code
        == 0
    )
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    # the replaced dataset left no orphans behind
    assert (
        conn.execute("SELECT count(*) FROM items WHERE domain_id NOT IN (SELECT id FROM domains)").fetchone()[
            0
        ]
        == 0
    )
