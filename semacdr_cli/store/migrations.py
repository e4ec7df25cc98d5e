"""The store's schema history: append-only migrations, each a small function over a sqlite-utils
``Database`` registered by ``@migration(version, name)`` and recorded in ``schema_migrations`` when
applied (as simonw/llm does). ``Store.migrate`` applies the missing ones in order, each in its own
transaction; an old store upgrades in place on open. Never edit a migration that has shipped:
append a new one. docs/schema.md is generated from a freshly migrated store (a test keeps it in step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[sqlite_utils.Database], None]


MIGRATIONS: list[Migration] = []


def migration(version: int, name: str):
    """Register the decorated function as migration ``version`` (versions must come in order)."""

    def register(fn: Callable[[sqlite_utils.Database], None]):
        if version != len(MIGRATIONS) + 1:
            raise RuntimeError(f"migration {version} registered out of order")
        MIGRATIONS.append(Migration(version, name, fn))
        return fn

    return register


def execute_script(db: sqlite_utils.Database, sql: str) -> None:
    """Run ``;``-separated statements one by one (``executescript`` would commit the open transaction)."""
    for statement in (s.strip() for s in sql.split(";")):
        if statement:
            db.execute(statement)


@migration(1, "datasets, domains, items, users, interactions with leave-one-out split")
def m001_interactions(db: sqlite_utils.Database) -> None:
    execute_script(
        db,
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
    )


@migration(2, "taxonomies, annotations with provenance, LLM cache, embeddings")
def m002_semantics(db: sqlite_utils.Database) -> None:
    execute_script(
        db,
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
    )


@migration(3, "training runs")
def m003_runs(db: sqlite_utils.Database) -> None:
    execute_script(
        db,
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
    )


@migration(4, "scored labels: per-label probability and source, annotation method, option distributions")
def m004_scored_labels(db: sqlite_utils.Database) -> None:
    labels, annotations = db.table("annotation_labels"), db.table("annotations")
    labels.add_column("prob", float)  # calibrated probability, NULL for generated labels
    labels.add_column("source", str, not_null_default="llm")  # llm | distilled
    annotations.add_column("method", str, not_null_default="generate")  # generate | score | distilled
    annotations.add_column("label_probs", str)  # JSON {category: {subcategory: probability}}
