"""Reads and writes of datasets, domains, items, users and interactions (with their split).

Write functions take the connection of an open ``store.transaction()``; the ids of new rows are
assigned by the caller from `next_id` inside that transaction (one writer at a time: the
transaction is BEGIN IMMEDIATE), which lets an import insert millions of rows with plain
``executemany`` and no lookups.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from semacdr_cli.store.core import Store, dumps, now, utils_db

SPLITS = ("train", "valid", "test")


# -- writes (inside store.transaction()) -----------------------------------------------------------
@contextmanager
def foreign_keys_unchecked(store: Store) -> Iterator[None]:
    """Skip per-row foreign-key checks for a bulk load of rows that only reference rows inserted
    in the same transaction (ids assigned by the loader). Never use it around a DELETE: the
    ON DELETE CASCADE actions do not run while foreign keys are off. Must wrap the transaction
    (SQLite ignores the pragma inside one)."""
    store.conn.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        store.conn.execute("PRAGMA foreign_keys=ON")


def next_id(conn: sqlite3.Connection, table: str) -> int:
    if table not in {"datasets", "domains", "items", "users", "interactions"}:
        raise ValueError(table)
    return (conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0) + 1


def find_dataset(conn: sqlite3.Connection, name: str) -> int | None:
    row = conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def delete_dataset(conn: sqlite3.Connection, dataset_id: int) -> None:
    """Delete a dataset and, through ON DELETE CASCADE, everything that hangs off it."""
    conn.execute("DELETE FROM datasets WHERE id = ?", (dataset_id,))


def insert_dataset(
    conn: sqlite3.Connection, name: str, fmt: str, source: str, synthetic: bool, params: dict
) -> int:
    record = {"name": name, "format": fmt, "source": source, "synthetic": int(synthetic), "params": dumps(params),
              "created_at": now()}  # fmt: skip
    return int(utils_db(conn)["datasets"].insert(record).last_pk)


def insert_domains(conn: sqlite3.Connection, dataset_id: int, names: list[str]) -> list[int]:
    table = utils_db(conn)["domains"]
    return [
        int(table.insert({"dataset_id": dataset_id, "name": n, "position": k}).last_pk)
        for k, n in enumerate(names)
    ]


def insert_items(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """rows: (id, domain_id, external_id, title, description, categories_json, brand, raw_json)."""
    conn.executemany(
        "INSERT INTO items (id, domain_id, external_id, title, description, categories, brand, raw) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def create_items_dataset(
    store: Store, name: str, domains: dict[str, list[tuple[str, str]]], *, fmt: str = "items-only",
    source: str = "", params: dict | None = None,
) -> int:  # fmt: skip
    """A dataset of items without interactions (benches, quality sets): ``domains`` maps a domain
    name to its (external id, title) pairs; one transaction; returns the dataset id."""
    with store.transaction() as c:
        ds = insert_dataset(c, name, fmt, source, False, params or {})
        start = next_id(c, "items")
        rows = []
        for did, items in zip(insert_domains(c, ds, list(domains)), domains.values(), strict=True):
            rows += [
                (start + len(rows) + n, did, ext, title, None, None, None, None)
                for n, (ext, title) in enumerate(items)
            ]
        insert_items(c, rows)
    return int(ds)


def dataset_id(store: Store, name: str) -> int | None:
    """The id of the dataset called ``name``, or None."""
    return find_dataset(store.conn, name)


def insert_users(conn: sqlite3.Connection, rows: Iterable[tuple]) -> None:
    """rows: (id, dataset_id, external_id)."""
    conn.executemany("INSERT INTO users (id, dataset_id, external_id) VALUES (?, ?, ?)", rows)


def insert_interactions(conn: sqlite3.Connection, rows: Iterable[tuple], n_rows: int = 0) -> None:
    """rows: (id, user_id, item_id, domain_id, position, timestamp, rating, split), ideally in
    (user, position) order.

    When the new rows are at least as many as those already stored, the secondary indexes of
    ``interactions`` are dropped and rebuilt from their own stored SQL around the insert (a sort
    is much cheaper than millions of random index inserts); inside the caller's transaction this
    stays atomic, and the schema is unchanged afterwards.
    """
    existing = conn.execute("SELECT count(*) FROM interactions").fetchone()[0]
    indexes = []
    if n_rows and n_rows >= existing:
        indexes = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'interactions' "
            "AND sql IS NOT NULL ORDER BY rowid"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    conn.executemany(
        "INSERT INTO interactions (id, user_id, item_id, domain_id, position, timestamp, rating, split) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    for _, sql in indexes:
        conn.execute(sql)


# -- reads ---------------------------------------------------------------------------------------
def list_datasets(store: Store) -> list[dict]:
    rows = store.query(
        "SELECT d.id, d.name, d.format, d.source, d.synthetic, d.created_at, "
        "(SELECT group_concat(name, ',') FROM (SELECT name FROM domains WHERE dataset_id = d.id "
        " ORDER BY position)) AS domains, "
        "(SELECT count(*) FROM users WHERE dataset_id = d.id) AS users, "
        "(SELECT count(*) FROM interactions JOIN domains m ON m.id = interactions.domain_id "
        " WHERE m.dataset_id = d.id) AS interactions "
        "FROM datasets d ORDER BY d.id"
    )
    out = []
    for r in rows:
        rec = dict(r)
        rec["synthetic"] = bool(rec["synthetic"])
        rec["domains"] = (rec["domains"] or "").split(",") if rec["domains"] else []
        out.append(rec)
    return out


def domain_stats(store: Store, dataset_id: int) -> dict[str, dict]:
    """Per domain: users, items (occurring in interactions), interactions, avg_len, split sizes,
    and how many of its items are annotated (ok), failed (no ok annotation) and embedded."""
    out: dict[str, dict] = {}
    for dom in store.query(
        "SELECT id, name FROM domains WHERE dataset_id = ? ORDER BY position", (dataset_id,)
    ):
        did = dom["id"]
        row = store.one(
            "SELECT count(DISTINCT user_id) AS users, count(DISTINCT item_id) AS items, count(*) AS n "
            "FROM interactions WHERE domain_id = ?",
            (did,),
        )
        splits = {s: 0 for s in SPLITS}
        for r in store.query(
            "SELECT split, count(*) AS n FROM interactions WHERE domain_id = ? GROUP BY split", (did,)
        ):
            splits[r["split"]] = r["n"]
        ann = store.one(
            "SELECT count(DISTINCT CASE WHEN a.status = 'ok' THEN a.item_id END) AS ok, "
            "count(DISTINCT CASE WHEN a.status = 'failed' THEN a.item_id END) AS failed_any "
            "FROM annotations a JOIN items i ON i.id = a.item_id WHERE i.domain_id = ?",
            (did,),
        )
        failed = store.one(
            "SELECT count(DISTINCT a.item_id) FROM annotations a JOIN items i ON i.id = a.item_id "
            "WHERE i.domain_id = ? AND a.status = 'failed' AND NOT EXISTS ("
            " SELECT 1 FROM annotations b WHERE b.item_id = a.item_id AND b.status = 'ok')",
            (did,),
        )[0]
        embedded = store.one(
            "SELECT count(DISTINCT e.item_id) FROM embeddings e JOIN items i ON i.id = e.item_id "
            "WHERE i.domain_id = ?",
            (did,),
        )[0]
        users = row["users"]
        out[dom["name"]] = {
            "users": users,
            "items": row["items"],
            "interactions": row["n"],
            "avg_len": round(row["n"] / users, 2) if users else 0.0,
            "splits": splits,
            "annotated": ann["ok"],
            "failed": failed,
            "embedded": embedded,
        }
    return out


def domain_item_ids(store: Store, domain_id: int) -> list[int]:
    """Every item id of a domain, ascending."""
    return [r[0] for r in store.query("SELECT id FROM items WHERE domain_id = ? ORDER BY id", (domain_id,))]


def domain_titles(store: Store, domain_id: int) -> list[str]:
    """Every item title of a domain (raw, as imported), by item id."""
    q = "SELECT coalesce(title, '') FROM items WHERE domain_id = ? ORDER BY id"
    return [r[0] for r in store.query(q, (domain_id,))]


def overlapped_users(store: Store, dataset_id: int) -> int:
    """Users with interactions in every domain of the dataset."""
    n_domains = store.one("SELECT count(*) FROM domains WHERE dataset_id = ?", (dataset_id,))[0]
    row = store.one(
        "SELECT count(*) FROM (SELECT i.user_id FROM interactions i JOIN users u ON u.id = i.user_id "
        "WHERE u.dataset_id = ? GROUP BY i.user_id HAVING count(DISTINCT i.domain_id) = ?)",
        (dataset_id, n_domains),
    )
    return row[0]


def table_counts(store: Store) -> dict[str, int]:
    """Row count of every table (used to show that a failed import changed nothing)."""
    names = [r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {n: store.one(f'SELECT count(*) FROM "{n}"')[0] for n in names}


def iter_sequences(store: Store, dataset_id: int) -> Iterator[tuple[int, list[tuple[int, str, str]]]]:
    """Each user's mixed chronological sequence: ``(user_id, [(item_id, domain, split), ...])``
    in position order. A user/domain with fewer than 3 interactions has no ``valid`` entry."""
    cur = store.conn.execute(
        "SELECT i.user_id, i.item_id, d.name, i.split FROM interactions i "
        "JOIN domains d ON d.id = i.domain_id WHERE d.dataset_id = ? ORDER BY i.user_id, i.position",
        (dataset_id,),
    )
    current, seq = None, []
    for user_id, item_id, dom, split in cur:
        if user_id != current:
            if current is not None:
                yield current, seq
            current, seq = user_id, []
        seq.append((item_id, dom, split))
    if current is not None:
        yield current, seq
