"""`data stats`, `data list`, `data schema`, `data demo`, and the Food-Kitchen integration figures."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections import Counter
from pathlib import Path

from data_helpers import FIXTURES, SMALL_FILTERS, cli, sequences

from semacdr_cli.datasets import demo
from semacdr_cli.store import schema_markdown

ROOT = Path(__file__).resolve().parent.parent


def _import_csv(db, name="c"):
    result = cli("data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--db", db, "--name", name)
    assert result.exit_code == 0, result.output


def test_stats_json_gives_table4_columns_and_split_sizes(db_path):
    _import_csv(db_path)
    result = cli("data", "stats", "--db", db_path, "--json")
    assert result.exit_code == 0, result.output
    st = json.loads(result.stdout)
    seqs = sequences(db_path, "c")
    assert st["dataset"] == "c" and st["synthetic"] is False
    assert st["overlapped_users"] == len(seqs)
    for dom, v in st["domains"].items():
        events = [(u, i, s) for u, seq in seqs.items() for d, i, s in seq if d == dom]
        assert v["interactions"] == len(events)
        assert v["users"] == len({u for u, _, _ in events})
        assert v["items"] == len({i for _, i, _ in events})
        assert v["avg_len"] == round(len(events) / v["users"], 2)
        assert v["splits"] == {s: sum(1 for e in events if e[2] == s) for s in ("train", "valid", "test")}
        assert v["splits"]["test"] == v["users"]
        assert (v["annotated"], v["failed"], v["embedded"]) == (0, 0, 0)


def test_stats_counts_annotated_failed_and_embedded_items(db_path):
    _import_csv(db_path)
    conn = sqlite3.connect(db_path)
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT items.id FROM items JOIN domains ON domains.id = items.domain_id WHERE domains.name = 'kitchen' "
            "ORDER BY items.id"
        )
    ]
    ds = conn.execute("SELECT id FROM datasets").fetchone()[0]
    conn.execute(
        "INSERT INTO taxonomies (dataset_id, version, origin, created_at) VALUES (?, 1, 'induced', 'now')",
        (ds,),
    )
    conn.execute(
        "INSERT INTO taxonomies (dataset_id, version, origin, created_at) VALUES (?, 2, 'induced', 'now')",
        (ds,),
    )
    ann = (
        "INSERT INTO annotations (item_id, taxonomy_id, status, model, backend, prompt_hash, schema_hash, "
        "created_at) VALUES (?, ?, ?, 'm', 'b', 'p', 's', 'now')"
    )
    conn.execute(ann, (ids[0], 1, "ok"))
    conn.execute(ann, (ids[1], 1, "failed"))
    conn.execute(ann, (ids[2], 1, "failed"))
    conn.execute(ann, (ids[2], 2, "ok"))  # failed once, then ok: counts as annotated only
    conn.execute(
        "INSERT INTO embeddings (item_id, model, dim, vector, text_hash, created_at) "
        "VALUES (?, 'm', 1, x'00000000', 'h', 'now')",
        (ids[0],),
    )
    conn.commit()
    conn.close()
    st = json.loads(cli("data", "stats", "--db", db_path, "--json").stdout)
    assert (
        st["domains"]["kitchen"]["annotated"],
        st["domains"]["kitchen"]["failed"],
        st["domains"]["kitchen"]["embedded"],
    ) == (2, 1, 1)
    assert st["domains"]["food"]["annotated"] == 0


def test_stats_on_a_missing_store_is_one_line(tmp_path):
    result = cli("data", "stats", "--db", tmp_path / "none.db")
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1


def test_list_shows_every_dataset(db_path):
    _import_csv(db_path, "one")
    _import_csv(db_path, "two")
    rows = json.loads(cli("data", "list", "--db", db_path, "--json").stdout)
    assert [r["name"] for r in rows] == ["one", "two"]
    assert rows[0]["domains"] == ["food", "kitchen"]
    table = cli("data", "list", "--db", db_path)
    assert "one" in table.output and "two" in table.output


def test_schema_doc_is_up_to_date():
    doc = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    assert doc == schema_markdown() + "\n", "run `semacdr data schema --out docs/schema.md`"


def test_schema_command_writes_the_generated_markdown(tmp_path):
    out = tmp_path / "schema.md"
    assert cli("data", "schema", "--out", out).exit_code == 0
    assert "CREATE TABLE interactions" in out.read_text()


def test_demo_files_are_deterministic_per_seed(tmp_path):
    a = demo.write_demo(tmp_path / "a", users=50, items_per_domain=24, seed=3)
    b = demo.write_demo(tmp_path / "b", users=50, items_per_domain=24, seed=3)
    c = demo.write_demo(tmp_path / "c", users=50, items_per_domain=24, seed=4)
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes()
    assert a["interactions_book"].read_bytes() != c["interactions_book"].read_bytes()


def _theme_of(description: str) -> str:
    hits = [t for t, subjects in demo.SUBJECTS.items() if any(s in description for s in subjects)]
    assert len(hits) == 1, description
    return hits[0]


def test_demo_plants_shared_tastes_across_domains(tmp_path):
    paths = demo.write_demo(tmp_path, users=200, items_per_domain=48, seed=0)
    theme, titles = {}, set()
    for d in demo.DOMAINS:
        with open(paths[f"items_{d}"], encoding="utf-8") as f:
            for row in csv.DictReader(f):
                theme[row["item"]] = _theme_of(row["description"])
                titles.add(row["title"])
    assert len(titles) == 2 * 48  # readable and unique
    favourite: dict[str, dict[str, str]] = {}
    for d in demo.DOMAINS:
        counts: dict[str, Counter] = {}
        with open(paths[f"interactions_{d}"], encoding="utf-8") as f:
            for row in csv.DictReader(f):
                counts.setdefault(row["user"], Counter())[theme[row["item"]]] += 1
        for u, c in counts.items():
            favourite.setdefault(u, {})[d] = c.most_common(1)[0][0]
    same = sum(1 for f in favourite.values() if f["book"] == f["movie"])
    # 8 themes: by chance the favourites would agree for ~1 user in 8
    assert same / len(favourite) > 0.5


def test_demo_command_imports_a_synthetic_dataset_of_the_default_size(tmp_path):
    db = tmp_path / "demo.db"
    result = cli("data", "demo", "--out", tmp_path / "demo", "--db", db)
    assert result.exit_code == 0, result.output
    st = json.loads(cli("data", "stats", "--db", db, "--json").stdout)
    assert st["synthetic"] is True and st["dataset"] == "demo"
    assert 500 <= st["overlapped_users"] <= 600
    for v in st["domains"].values():
        assert 60 <= v["items"] <= 80
        assert 6 <= v["avg_len"] <= 10
    assert "synthetic" in cli("data", "stats", "--db", db).output


def test_demo_no_import_only_writes_files(tmp_path):
    db = tmp_path / "demo.db"
    result = cli("data", "demo", "--out", tmp_path / "d", "--users", "20", "--no-import", "--db", db)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "items_book.csv").exists()
    assert not db.exists()


def test_food_kitchen_import_gives_the_documented_figures(food_kitchen, db_path):
    result = cli("data", "import", "llmcdsr", food_kitchen, "--domains", "food,kitchen", "--db", db_path)
    assert result.exit_code == 0, result.output
    st = json.loads(cli("data", "stats", "--db", db_path, "--json").stdout)
    assert st["overlapped_users"] == 9398
    assert (st["domains"]["food"]["items"], st["domains"]["food"]["interactions"]) == (8272, 61035)
    assert (st["domains"]["kitchen"]["items"], st["domains"]["kitchen"]["interactions"]) == (18605, 71994)
    for v in st["domains"].values():
        assert v["users"] == 9398 and v["splits"]["test"] == 9398
    conn = sqlite3.connect(db_path)
    n_items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    assert n_items == 8272 + 18605
    assert conn.execute("SELECT count(*) FROM items WHERE title IS NULL").fetchone()[0] == 0
