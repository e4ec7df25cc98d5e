"""The SQLite store, the contract between the data, LLM and training sides.

`core` holds the connection and the generic helpers, `migrations` the append-only schema; each other
module holds the reads and writes of one part of the schema: `interactions` (datasets, domains,
items, users, interactions, splits), `semantic` (taxonomies, annotations, LLM cache), `embeddings`,
`training` (training runs) and `report_queries` (what the report reads). Only this package writes
SQL. One convention for writers: a writer that is one step of a caller's transaction takes that
transaction's connection (``with store.transaction() as conn``: an import, an annotation batch); any
other reader or writer takes the open ``Store``.
"""

from semacdr_cli.store.core import DEFAULT_DB, MIGRATIONS, Store, default_db_path, dumps, now, schema_markdown

__all__ = ["DEFAULT_DB", "MIGRATIONS", "Store", "default_db_path", "dumps", "now", "schema_markdown"]
