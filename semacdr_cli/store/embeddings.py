"""Item embeddings in the store: what to encode (sources, descriptions, text hashes), writes, lookups."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from semacdr_cli.store.core import Store, now, utils_db


def embedding_sources(store: Store, domain_id: int) -> list[sqlite3.Row]:
    """Every item of a domain with the id of its newest ok annotation, if any.

    The newest one decides even when it has no description (filtered as garbage, or distilled): the
    item is then encoded from its own text, never from an older taxonomy's description, so a vector
    depends on the store's current annotations and not on the runs before them."""
    return store.query(
        "SELECT i.id AS item_id, i.title, i.description AS raw_description, "
        "(SELECT a.id FROM annotations a JOIN taxonomies t ON t.id = a.taxonomy_id "
        " WHERE a.item_id = i.id AND a.status = 'ok' "
        " ORDER BY t.version DESC, a.id DESC LIMIT 1) AS annotation_id "
        "FROM items i WHERE i.domain_id = ? ORDER BY i.id",
        (domain_id,),
    )


def annotation_descriptions(store: Store, annotation_ids: Iterable[int]) -> dict[int, str]:
    ids = [a for a in annotation_ids if a is not None]
    out: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for r in store.query(f"SELECT id, description FROM annotations WHERE id IN ({marks})", tuple(chunk)):
            out[r["id"]] = r["description"]
    return out


def embedding_hashes(store: Store, domain_id: int, model: str) -> dict[int, str]:
    rows = store.query(
        "SELECT e.item_id, e.text_hash FROM embeddings e JOIN items i ON i.id = e.item_id "
        "WHERE i.domain_id = ? AND e.model = ?",
        (domain_id, model),
    )
    return {r["item_id"]: r["text_hash"] for r in rows}


def write_embeddings(
    conn: sqlite3.Connection, model: str, rows: list[tuple[int, bytes, int, str, int | None]]
) -> None:
    """rows: (item_id, float32 little-endian bytes, dim, text_hash, annotation_id)."""
    created = now()
    records = [
        {"item_id": item, "model": model, "dim": dim, "vector": vec, "text_hash": h, "annotation_id": ann,
         "created_at": created}
        for item, vec, dim, h, ann in rows
    ]  # fmt: skip
    utils_db(conn)["embeddings"].upsert_all(records, pk=("item_id", "model"))


def item_embeddings(store: Store, item_id: int) -> list[sqlite3.Row]:
    return store.query("SELECT * FROM embeddings WHERE item_id = ? ORDER BY created_at DESC", (item_id,))


def domain_embeddings(store: Store, domain_ids: Iterable[int], model: str) -> list[sqlite3.Row]:
    """(item_id, external_id, title, domain, dim, vector) of every embedded item of the domains."""
    ids = list(domain_ids)
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    return store.query(
        "SELECT e.item_id, e.dim, e.vector, i.external_id, i.title, d.name AS domain FROM embeddings e "
        "JOIN items i ON i.id = e.item_id JOIN domains d ON d.id = i.domain_id "
        f"WHERE i.domain_id IN ({marks}) AND e.model = ? ORDER BY e.item_id",
        (*ids, model),
    )


def embedding_dim(store: Store, model: str) -> int:
    row = store.one("SELECT dim FROM embeddings WHERE model = ? LIMIT 1", (model,))
    return int(row["dim"]) if row else 0
