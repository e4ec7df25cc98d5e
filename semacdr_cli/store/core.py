"""The SQLite store: the contract between the data, LLM and training sides.

Together with its sibling modules in this package, the only place that knows table names and SQL. It opens the database (WAL, foreign
keys on), applies the append-only migrations recorded in ``schema_migrations``, and offers small
read/write functions. Never edit a migration that has shipped: append a new one.

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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

from semacdr_cli.errors import SemacdrError

DEFAULT_DB = "annotations.db"

# (version, name, SQL). Append only.
MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "datasets, domains, items, users, interactions with leave-one-out split",
        """
        CREATE TABLE datasets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            format TEXT NOT NULL,              -- amazon | csv | llmcdsr | c2dsr | demo
            source TEXT,                       -- path(s) imported from
            synthetic INTEGER NOT NULL DEFAULT 0,
            params TEXT,                       -- JSON: preprocessing flags and what each step removed
            created_at TEXT NOT NULL
        );
        CREATE TABLE domains (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            position INTEGER NOT NULL,         -- 0 for the first domain named on import
            UNIQUE (dataset_id, name)
        );
        CREATE TABLE items (
            id INTEGER PRIMARY KEY,
            domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
            external_id TEXT NOT NULL,         -- e.g. the ASIN
            title TEXT,
            description TEXT,
            categories TEXT,                   -- JSON list (category path) when known
            brand TEXT,
            raw TEXT,                          -- JSON: the raw metadata record
            UNIQUE (domain_id, external_id)
        );
        CREATE INDEX items_external ON items(external_id);
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            external_id TEXT NOT NULL,
            UNIQUE (dataset_id, external_id)
        );
        CREATE TABLE interactions (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,         -- index in the user's mixed chronological sequence
            timestamp INTEGER,                 -- unix seconds when known
            rating REAL,
            split TEXT NOT NULL CHECK (split IN ('train', 'valid', 'test')),
            UNIQUE (user_id, position)
        );
        CREATE INDEX interactions_domain ON interactions(domain_id, split);
        CREATE INDEX interactions_item ON interactions(item_id);
        """,
    ),
    (
        2,
        "taxonomies, annotations with provenance, LLM cache, embeddings",
        """
        CREATE TABLE taxonomies (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            version INTEGER NOT NULL,          -- 1, 2, ... per dataset
            origin TEXT NOT NULL,              -- induced | imported
            domains TEXT,                      -- JSON list of domain names it was induced from
            model TEXT,
            backend TEXT,
            prompt_hash TEXT,
            schema_hash TEXT,
            params TEXT,                       -- JSON: K, sample size, sampling parameters, seed
            created_at TEXT NOT NULL,
            UNIQUE (dataset_id, version)
        );
        CREATE TABLE taxonomy_categories (
            id INTEGER PRIMARY KEY,
            taxonomy_id INTEGER NOT NULL REFERENCES taxonomies(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            description TEXT,
            UNIQUE (taxonomy_id, name)
        );
        CREATE TABLE taxonomy_subcategories (
            id INTEGER PRIMARY KEY,
            category_id INTEGER NOT NULL REFERENCES taxonomy_categories(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            UNIQUE (category_id, name)
        );
        CREATE TABLE annotations (
            id INTEGER PRIMARY KEY,
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            taxonomy_id INTEGER NOT NULL REFERENCES taxonomies(id) ON DELETE CASCADE,
            status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
            description TEXT,                  -- enriched inner-domain description
            labels TEXT,                       -- JSON {category: [subcategory, ...]}
            failure_reason TEXT,
            attempts INTEGER NOT NULL DEFAULT 1,
            outliers TEXT,                     -- JSON: what the term-frequency filter did
            model TEXT NOT NULL,
            backend TEXT NOT NULL,
            prompt_hash TEXT NOT NULL,
            schema_hash TEXT NOT NULL,
            sampling TEXT,                     -- JSON sampling parameters
            tokens_in INTEGER,
            tokens_out INTEGER,
            seconds REAL,
            cache_key TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (item_id, taxonomy_id)
        );
        CREATE TABLE annotation_labels (
            annotation_id INTEGER NOT NULL REFERENCES annotations(id) ON DELETE CASCADE,
            subcategory_id INTEGER NOT NULL REFERENCES taxonomy_subcategories(id) ON DELETE CASCADE,
            PRIMARY KEY (annotation_id, subcategory_id)
        );
        CREATE TABLE llm_cache (
            key TEXT PRIMARY KEY,              -- hash of (text, prompt, schema, model, taxonomy, sampling)
            output TEXT NOT NULL,
            tokens_in INTEGER,
            tokens_out INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE TABLE embeddings (
            item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            dim INTEGER NOT NULL,
            vector BLOB NOT NULL,              -- float32 little-endian, dim values
            text_hash TEXT NOT NULL,           -- hash of the text that was encoded
            annotation_id INTEGER REFERENCES annotations(id) ON DELETE SET NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (item_id, model)
        );
        """,
    ),
    (
        3,
        "training runs",
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            model TEXT NOT NULL,               -- semacdr | sasrec | cd-sasrec
            source_domain TEXT,
            target_domain TEXT NOT NULL,
            ablation TEXT,
            seed INTEGER NOT NULL,
            group_id TEXT,                     -- runs of one --repeat share it
            status TEXT NOT NULL,              -- running | finished | failed
            run_dir TEXT NOT NULL,
            config TEXT NOT NULL,              -- JSON resolved config
            taxonomy_id INTEGER REFERENCES taxonomies(id) ON DELETE SET NULL,
            embedding_model TEXT,
            best_epoch INTEGER,
            metrics TEXT,                      -- JSON: last evaluation
            versions TEXT,                     -- JSON: library versions
            created_at TEXT NOT NULL,
            finished_at TEXT
        );
        """,
    ),
    (
        4,
        "scored labels: per-label probability and source, annotation method, option distributions",
        """
        ALTER TABLE annotation_labels ADD COLUMN prob REAL;        -- calibrated probability, NULL for generated labels
        ALTER TABLE annotation_labels ADD COLUMN source TEXT NOT NULL DEFAULT 'llm';  -- llm | distilled
        ALTER TABLE annotations ADD COLUMN method TEXT NOT NULL DEFAULT 'generate';   -- generate | score | distilled
        ALTER TABLE annotations ADD COLUMN label_probs TEXT;       -- JSON {category: {subcategory: probability}}
        """,
    ),
]


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
        """One atomic unit: everything inside commits together or not at all."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    # -- migrations ------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply every migration not yet recorded; return the versions applied."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {r[0] for r in self.conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            with self.transaction() as c:
                for statement in _split_sql(sql):
                    c.execute(statement)
                c.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    (version, name, now()),
                )
            applied.append(version)
        return applied

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


def _split_sql(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


@dataclass
class SchemaDoc:
    table: str
    sql: str


def schema_markdown(store: Store | None = None) -> str:
    """The schema of a freshly migrated store as markdown, generated from the migrations."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        s = Store(Path(tmp) / "schema.db")
        rows = s.query(
            "SELECT name, sql FROM sqlite_master WHERE type IN ('table', 'index') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type DESC, rowid"
        )
        migrations = s.query("SELECT version, name FROM schema_migrations ORDER BY version")
        s.close()
    out = [
        "# The semacdr store schema",
        "",
        "Generated from `semacdr_cli/store/core.py` by `semacdr data schema` (a test keeps this file in step).",
        "",
        "## Migrations",
        "",
    ]
    out += [f"{m['version']}. {m['name']}" for m in migrations]
    out += ["", "## Tables and indexes", ""]
    for r in rows:
        out += [f"### {r['name']}", "", "```sql", r["sql"].strip(), "```", ""]
    return "\n".join(out)


def dumps(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)
