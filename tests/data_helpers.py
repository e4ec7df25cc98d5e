"""Helpers shared by the data tests: fixture paths, CLI runner, store snapshots."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from semacdr_cli.app import app

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"
AMAZON_FILES = {
    "2014": [
        "reviews_Grocery_and_Gourmet_Food.json.gz",
        "meta_Grocery_and_Gourmet_Food.json.gz",
        "reviews_Home_and_Kitchen.json.gz",
        "meta_Home_and_Kitchen.json.gz",
    ],
    "2018": [
        "Grocery_and_Gourmet_Food.json.gz",
        "meta_Grocery_and_Gourmet_Food.json.gz",
        "Home_and_Kitchen.json.gz",
        "meta_Home_and_Kitchen.json.gz",
    ],
    "2023": [
        "Grocery_and_Gourmet_Food.jsonl",
        "meta_Grocery_and_Gourmet_Food.jsonl",
        "Home_and_Kitchen.jsonl",
        "meta_Home_and_Kitchen.jsonl",
    ],
}
SMALL_FILTERS = ["--min-item-interactions", "2", "--min-user-interactions", "2"]


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def amazon_args(folder: Path, release: str) -> list[str]:
    return [str(folder / f) for f in AMAZON_FILES[release]]


def snapshot(db: Path) -> str:
    """The full SQL dump of a store: equal dumps mean equal content."""
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def sequences(db: Path, dataset: str) -> dict[str, list[tuple[str, str, str]]]:
    """user external id -> [(domain, item external id, split), ...] in position order."""
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT u.external_id, d.name, it.external_id, i.split FROM interactions i "
        "JOIN users u ON u.id = i.user_id JOIN items it ON it.id = i.item_id "
        "JOIN domains d ON d.id = i.domain_id JOIN datasets s ON s.id = d.dataset_id "
        "WHERE s.name = ? ORDER BY u.external_id, i.position",
        (dataset,),
    ).fetchall()
    conn.close()
    out: dict[str, list] = {}
    for u, d, item, split in rows:
        out.setdefault(u, []).append((d, item, split))
    return out
