"""The SQLite store, the contract between the data, LLM and training sides.

`core` holds the connection, the append-only migrations and the generic helpers; each other
module holds the reads and writes of one part of the schema:
`interactions` (datasets, domains, items, users, interactions, splits), `semantic` (taxonomies,
annotations, LLM cache, embeddings) and `runs` (training runs). Only this package writes SQL.
"""

from semacdr_cli.store.core import DEFAULT_DB, MIGRATIONS, Store, default_db_path, dumps, now, schema_markdown

__all__ = ["DEFAULT_DB", "MIGRATIONS", "Store", "default_db_path", "dumps", "now", "schema_markdown"]
