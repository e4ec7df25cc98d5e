"""The SQLite store: the contract between the data, LLM and training sides.

Together with its sibling modules in this package, the only place that knows table names and SQL. It opens the database (WAL, foreign
keys on), applies the append-only migrations of ``store/migrations.py`` (recorded in
``schema_migrations``), and offers small read/write functions.

Conventions
-----------
- ``interactions.position`` is the 0-based index of the interaction in the user's *mixed*
  (both-domain) chronological sequence; per-domain order is the order of ``position``.
- ``interactions.split`` is the leave-one-out split *per domain*: the user's last interaction in a
  domain is ``test``, the second-to-last ``valid``, the rest ``train``.
- JSON columns hold UTF-8 JSON text; vectors are little-endian float32 BLOBs.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from semacdr_cli.errors import SemacdrError
from semacdr_cli.store.migrations import MIGRATIONS

DEFAULT_DB = "annotations.db"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_db_path() -> str:
    return os.environ.get("SEMACDR_DB", DEFAULT_DB)


def busy_timeout() -> float:
    """Seconds a write waits for another writer's lock (env SEMACDR_BUSY_TIMEOUT, default 30)."""
    try:
        return float(os.environ.get("SEMACDR_BUSY_TIMEOUT", "30"))
    except ValueError:
        return 30.0


class Store:
    """A connection to one store file, migrated to the latest schema on open."""

    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise SemacdrError(
                "no store here; create one with `semacdr data import ...` or `semacdr data demo`",
                path=str(self.path),
            )
        if self.path.parent and not self.path.parent.exists():
            raise SemacdrError("the folder of the store does not exist", path=str(self.path))
        self._db = None
        self._told_wait = False
        try:
            self.conn = sqlite3.connect(str(self.path), timeout=busy_timeout(), isolation_level=None)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.migrate()
        except sqlite3.DatabaseError as exc:
            raise SemacdrError(f"not a semacdr store ({exc})", path=str(self.path)) from None

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: everything inside commits together or not at all. When another job holds
        the write lock, one line on stderr says this one waits (up to SEMACDR_BUSY_TIMEOUT seconds)."""
        self._begin()
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def _begin(self) -> None:
        wait_ms = int(busy_timeout() * 1000)
        if wait_ms <= 250:  # no real wait to announce
            self.conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
            self.conn.execute("BEGIN IMMEDIATE")
            return
        self.conn.execute("PRAGMA busy_timeout = 250")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if not self._told_wait:
                self._told_wait = True
                sys.stderr.write(
                    f"waiting for another job writing {self.path} (up to {wait_ms / 1000:.0f} s; "
                    "SEMACDR_BUSY_TIMEOUT)\n"
                )
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
        self.conn.execute("BEGIN IMMEDIATE")

    # -- migrations ------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply every migration not yet recorded; return the versions applied."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {r[0] for r in self.conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for m in MIGRATIONS:
            if m.version in done:
                continue
            with self.transaction() as c:
                m.apply(self.db)
                c.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (m.version, m.name, now()),
                )
            applied.append(m.version)
        return applied

    @property
    def db(self):
        """The same connection as a sqlite-utils ``Database`` (migrations, introspection)."""

        if self._db is None:
            self._db = utils_db(self.conn)
        return self._db

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return row[0] or 0

    # -- generic helpers -------------------------------------------------------------------------
    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    # -- datasets and domains --------------------------------------------------------------------
    def datasets(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM datasets ORDER BY id")

    def dataset(self, name: str | None = None) -> sqlite3.Row:
        """The dataset called ``name``; without a name, the most recently imported one."""
        if name is None:
            row = self.one("SELECT * FROM datasets ORDER BY id DESC LIMIT 1")
            if row is None:
                raise SemacdrError(
                    "the store holds no dataset; run `semacdr data import ...` or `semacdr data demo`",
                    path=str(self.path),
                )
            return row
        row = self.one("SELECT * FROM datasets WHERE name = ?", (name,))
        if row is None:
            known = ", ".join(r["name"] for r in self.datasets()) or "none"
            raise SemacdrError(
                f"no dataset named {name!r} in the store (known: {known})", path=str(self.path)
            )
        return row

    def domains(self, dataset_id: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM domains WHERE dataset_id = ? ORDER BY position", (dataset_id,))

    def domain(self, dataset_id: int, name: str) -> sqlite3.Row:
        row = self.one("SELECT * FROM domains WHERE dataset_id = ? AND name = ?", (dataset_id, name))
        if row is None:
            known = ", ".join(r["name"] for r in self.domains(dataset_id)) or "none"
            raise SemacdrError(f"--domain: no domain {name!r} in this dataset (known: {known})")
        return row

    # -- items -----------------------------------------------------------------------------------
    def find_item(self, ref: str, dataset_id: int | None = None) -> sqlite3.Row:
        """An item by store id (digits) or external id (e.g. ASIN)."""
        sql = (
            "SELECT items.*, domains.name AS domain, domains.dataset_id AS dataset_id FROM items "
            "JOIN domains ON domains.id = items.domain_id WHERE {cond}"
        )
        params: list = []
        cond = "items.external_id = ?"
        params.append(ref)
        if dataset_id is not None:
            cond += " AND domains.dataset_id = ?"
            params.append(dataset_id)
        rows = self.query(sql.format(cond=cond), tuple(params))
        if not rows and ref.isdigit():
            rows = self.query(sql.format(cond="items.id = ?"), (int(ref),))
        if not rows:
            raise SemacdrError(f"ITEM: no item with store id or external id {ref!r}")
        if len(rows) > 1:
            where = ", ".join(f"{r['domain']} (store id {r['id']})" for r in rows)
            raise SemacdrError(f"ITEM: external id {ref!r} is ambiguous: {where}; give the store id")
        return rows[0]


def schema_markdown(store: Store | None = None) -> str:
    """The schema of a freshly migrated store as markdown, generated from the migrations (tables and
    their indexes read through sqlite-utils)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        s = Store(Path(tmp) / "schema.db")
        db = s.db
        tables = [(name, db[name].schema) for name in db.table_names() if not name.startswith("sqlite_")]
        indexes = [
            (
                ix.name,
                s.one("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (ix.name,))["sql"],
            )
            for name, _ in tables
            for ix in sorted(db[name].indexes, key=lambda ix: ix.seq, reverse=True)
            if not ix.name.startswith("sqlite_")
        ]
        migrations = s.query("SELECT version, name FROM schema_migrations ORDER BY version")
        s.close()
    out = [
        "# The semacdr store schema",
        "",
        "Generated from `semacdr_cli/store/migrations.py` by `semacdr data schema` (a test keeps this file in step).",
        "",
        "## Migrations",
        "",
    ]
    out += [f"{m['version']}. {m['name']}" for m in migrations]
    out += ["", "## Tables and indexes", ""]
    for name, sql in tables + indexes:
        out += [f"### {name}", "", "```sql", sql.strip(), "```", ""]
    return "\n".join(out)


def utils_db(conn: sqlite3.Connection):
    """``conn`` as a sqlite-utils ``Database`` (writes inside an open transaction nest as savepoints).
    A thin wrapper built per write (the LLM cache writes one per item): no PRAGMA, no plugin hooks."""
    import sqlite_utils

    return sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def content(store: Store, table: str, leave_out: set[str] = frozenset()) -> tuple[list[str], list[tuple]]:
    """(columns, rows in rowid order) of ``table`` without the ``leave_out`` columns: a store's content
    compared with another's (bench/soak_kill.py)."""
    names = {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if table not in names:
        raise SemacdrError(f"no table {table!r} in the store", path=str(store.path))
    cols = [r[1] for r in store.conn.execute(f"PRAGMA table_info({table})") if r[1] not in leave_out]
    return cols, [
        tuple(r) for r in store.conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY rowid")
    ]


def integrity(store: Store) -> str:
    """SQLite's own check of the file ("ok"), then of the foreign keys."""
    result = store.conn.execute("PRAGMA integrity_check").fetchone()[0]
    broken = store.conn.execute("PRAGMA foreign_key_check").fetchall()
    return result if not broken else f"{result}; {len(broken)} rows break a foreign key"
