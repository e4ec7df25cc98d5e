"""Reads and writes of the semantic tables: taxonomies, annotations (+ labels), llm_cache, embeddings.

Plain functions over a `Store`. Writers that belong together take the open connection of a
`store.transaction()` so a job commits one batch atomically.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from semacdr_cli.errors import SemacdrError
from semacdr_cli.store.core import Store, dumps, now, utils_db
from semacdr_cli.store.interactions import domain_item_ids  # noqa: F401  (re-exported for the jobs)

# -- taxonomies -----------------------------------------------------------------------------------


def insert_taxonomy(
    store: Store,
    dataset_id: int,
    categories: list[dict],
    *,
    origin: str,
    domains: list[str] | None = None,
    model: str | None = None,
    backend: str | None = None,
    prompt_hash: str | None = None,
    schema_hash: str | None = None,
    params: dict | None = None,
) -> tuple[int, int]:
    """Store a taxonomy as the dataset's next version, atomically; return (taxonomy id, version).

    `categories` is `[{"name": ..., "subcategories": [...], "description": optional}, ...]`.
    """
    with store.transaction() as c:
        row = c.execute(
            "SELECT coalesce(max(version), 0) FROM taxonomies WHERE dataset_id = ?", (dataset_id,)
        )
        version = row.fetchone()[0] + 1
        cur = c.execute(
            "INSERT INTO taxonomies (dataset_id, version, origin, domains, model, backend, prompt_hash, "
            "schema_hash, params, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                dataset_id,
                version,
                origin,
                dumps(domains) if domains is not None else None,
                model,
                backend,
                prompt_hash,
                schema_hash,
                dumps(params) if params is not None else None,
                now(),
            ),
        )
        tax_id = cur.lastrowid
        for pos, cat in enumerate(categories):
            cid = c.execute(
                "INSERT INTO taxonomy_categories (taxonomy_id, position, name, description) VALUES (?, ?, ?, ?)",
                (tax_id, pos, cat["name"], cat.get("description")),
            ).lastrowid
            for spos, sub in enumerate(cat["subcategories"]):
                c.execute(
                    "INSERT INTO taxonomy_subcategories (category_id, position, name) VALUES (?, ?, ?)",
                    (cid, spos, sub),
                )
    return tax_id, version


def insert_taxonomy_unless_latest(store: Store, dataset_id: int, categories: list[dict], *, origin: str,
                                  model: str | None, prompt_hash: str | None, **kw) -> tuple[int, int, bool]:  # fmt: skip
    """As `insert_taxonomy`, except when the dataset's latest version has the same origin, model, prompts,
    domains and categories (names and subcategories, in order): that version is kept, and the
    annotations made against it stay valid. Returns (taxonomy id, version, kept)."""
    latest = _latest_taxonomy(store, dataset_id)
    same = (origin, model, prompt_hash, kw.get("domains"))
    if (
        latest
        and (latest["origin"], latest["model"], latest["prompt_hash"], loads(latest["domains"])) == same
    ):
        tree = [
            (c["name"], [x["name"] for x in c["subcategories"]]) for c in taxonomy_tree(store, latest["id"])
        ]
        if tree == [(c["name"], list(c["subcategories"])) for c in categories]:
            return latest["id"], latest["version"], True
    tax_id, version = insert_taxonomy(store, dataset_id, categories, origin=origin, model=model,
                                      prompt_hash=prompt_hash, **kw)  # fmt: skip
    return tax_id, version, False


def _latest_taxonomy(store: Store, dataset_id: int) -> sqlite3.Row | None:
    return store.one(
        "SELECT * FROM taxonomies WHERE dataset_id = ? ORDER BY version DESC LIMIT 1", (dataset_id,)
    )


def get_taxonomy(store: Store, dataset_id: int, version: int | None = None) -> sqlite3.Row:
    """The taxonomy row of `version` (default: the latest); a one-line error when there is none."""
    if version is None:
        row = _latest_taxonomy(store, dataset_id)
        if row is None:
            raise SemacdrError(
                "this dataset has no taxonomy yet; run `semacdr taxonomy induce --source A --target B` "
                "or `semacdr taxonomy import FILE`"
            )
        return row
    row = store.one("SELECT * FROM taxonomies WHERE dataset_id = ? AND version = ?", (dataset_id, version))
    if row is None:
        known = [
            r[0] for r in store.query("SELECT version FROM taxonomies WHERE dataset_id = ?", (dataset_id,))
        ]
        raise SemacdrError(f"--version: no taxonomy version {version} (known: {known or 'none'})")
    return row


def taxonomy_tree(store: Store, taxonomy_id: int) -> list[dict[str, Any]]:
    """`[{"id", "name", "description", "subcategories": [{"id", "name"}, ...]}, ...]` in stored order."""
    cats = store.query(
        "SELECT id, name, description FROM taxonomy_categories WHERE taxonomy_id = ? ORDER BY position",
        (taxonomy_id,),
    )
    subs = store.query(
        "SELECT s.id, s.name, s.category_id FROM taxonomy_subcategories s JOIN taxonomy_categories c "
        "ON c.id = s.category_id WHERE c.taxonomy_id = ? ORDER BY s.category_id, s.position",
        (taxonomy_id,),
    )
    by_cat: dict[int, list[dict]] = {}
    for s in subs:
        by_cat.setdefault(s["category_id"], []).append({"id": s["id"], "name": s["name"]})
    return [
        {
            "id": c["id"],
            "name": c["name"],
            "description": c["description"],
            "subcategories": by_cat.get(c["id"], []),
        }
        for c in cats
    ]


def taxonomy_versions(store: Store, dataset_id: int) -> list[sqlite3.Row]:
    return store.query("SELECT * FROM taxonomies WHERE dataset_id = ? ORDER BY version", (dataset_id,))


# -- items read by the jobs -------------------------------------------------------------------------


def items_by_ids(store: Store, ids: Iterable[int]) -> list[sqlite3.Row]:
    ids = list(ids)
    out: list[sqlite3.Row] = []
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        out += store.query(f"SELECT * FROM items WHERE id IN ({marks})", tuple(chunk))
    order = {v: n for n, v in enumerate(ids)}
    return sorted(out, key=lambda r: order[r["id"]])


def items_to_annotate(
    store: Store,
    domain_id: int,
    taxonomy_id: int,
    limit: int | None = None,
    retry_failed: bool = False,
    order: str = "id",
) -> tuple[list[sqlite3.Row], int]:
    """(items still to annotate, items already done) among the first `limit` items of a domain, by id
    (``order="id"``) or most interacted first (``order="popular"``, ties by id).

    Items with an annotation row for this taxonomy are done; failed ones count as to-do with
    `retry_failed`. The scope is chosen before what is done, so a re-run with the same `--limit` and
    `--order` is idempotent.
    """
    if order == "popular":
        sql = (
            "SELECT i.* FROM items i LEFT JOIN (SELECT item_id, COUNT(*) AS n FROM interactions "
            "WHERE domain_id = ? GROUP BY item_id) c ON c.item_id = i.id "
            "WHERE i.domain_id = ? ORDER BY COALESCE(c.n, 0) DESC, i.id"
        )
        params: tuple = (domain_id, domain_id)
    elif order == "id":
        sql = "SELECT * FROM items WHERE domain_id = ? ORDER BY id"
        params = (domain_id,)
    else:
        raise ValueError(f"unknown order {order!r}")
    if limit is not None:
        sql += " LIMIT ?"
        params += (limit,)
    scope = store.query(sql, params)
    done_rows = store.query(
        "SELECT a.item_id, a.status FROM annotations a JOIN items i ON i.id = a.item_id "
        "WHERE i.domain_id = ? AND a.taxonomy_id = ?",
        (domain_id, taxonomy_id),
    )
    done = {r["item_id"] for r in done_rows if r["status"] == "ok" or not retry_failed}
    todo = [r for r in scope if r["id"] not in done]
    return todo, len(scope) - len(todo)


# -- LLM cache ------------------------------------------------------------------------------------


def cache_get(store: Store, keys: Iterable[str]) -> dict[str, sqlite3.Row]:
    keys = list(dict.fromkeys(keys))
    out: dict[str, sqlite3.Row] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for r in store.query(f"SELECT * FROM llm_cache WHERE key IN ({marks})", tuple(chunk)):
            out[r["key"]] = r
    return out


def cache_put(conn: sqlite3.Connection, key: str, output: str, tokens_in: int, tokens_out: int) -> None:
    record = {
        "key": key,
        "output": output,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "created_at": now(),
    }
    utils_db(conn)["llm_cache"].insert(record, ignore=True)  # the first answer for a key stays


# -- annotations ----------------------------------------------------------------------------------


def upsert_annotation(conn: sqlite3.Connection, row: dict[str, Any], subcategory_ids: list[int],
                      probs: list[float] | None = None, source: str = "llm") -> int:  # fmt: skip
    """Insert or replace the annotation of (item, taxonomy) and its label rows; return its id.

    `row` has the annotations columns (labels/sampling/outliers as Python objects).
    """
    cols = [
        "item_id", "taxonomy_id", "status", "description", "labels", "failure_reason", "attempts",
        "outliers", "model", "backend", "prompt_hash", "schema_hash", "sampling", "tokens_in",
        "tokens_out", "seconds", "cache_key", "method", "label_probs",
    ]  # fmt: skip
    row = {"method": "generate", **row}
    values = []
    for col in cols:
        v = row.get(col)
        if col in ("labels", "sampling", "outliers", "label_probs") and v is not None:
            v = dumps(v)
        values.append(v)
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols[2:]) + ", created_at = excluded.created_at"
    conn.execute(
        f"INSERT INTO annotations ({', '.join(cols)}, created_at) VALUES ({', '.join('?' * len(cols))}, ?) "
        f"ON CONFLICT (item_id, taxonomy_id) DO UPDATE SET {updates}",
        (*values, now()),
    )
    ann_id = conn.execute(
        "SELECT id FROM annotations WHERE item_id = ? AND taxonomy_id = ?",
        (row["item_id"], row["taxonomy_id"]),
    ).fetchone()[0]
    set_annotation_labels(conn, ann_id, subcategory_ids, probs, source)
    return ann_id


def set_annotation_labels(conn: sqlite3.Connection, annotation_id: int, subcategory_ids: list[int],
                          probs: list[float] | None = None, source: str = "llm") -> None:  # fmt: skip
    conn.execute("DELETE FROM annotation_labels WHERE annotation_id = ?", (annotation_id,))
    probs = list(probs) if probs is not None else [None] * len(subcategory_ids)
    seen: dict[int, float | None] = {}
    for s, p in zip(subcategory_ids, probs, strict=True):
        seen.setdefault(s, p)
    conn.executemany(
        "INSERT INTO annotation_labels (annotation_id, subcategory_id, prob, source) VALUES (?, ?, ?, ?)",
        [(annotation_id, s, p, source) for s, p in seen.items()],
    )


def update_filtered_annotation(
    conn: sqlite3.Connection,
    annotation_id: int,
    *,
    labels: dict,
    description: str | None,
    outliers: dict,
    subcategory_ids: list[int],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write what the outlier filter decided for one annotation (labels, description, record)."""
    sets = {"labels": dumps(labels), "description": description, "outliers": dumps(outliers)}
    for k, v in (extra or {}).items():
        sets[k] = dumps(v) if isinstance(v, (dict, list)) else v
    assign = ", ".join(f"{k} = ?" for k in sets)
    conn.execute(f"UPDATE annotations SET {assign} WHERE id = ?", (*sets.values(), annotation_id))
    set_annotation_labels(conn, annotation_id, subcategory_ids)


def set_description(
    conn: sqlite3.Connection, annotation_id: int, description: str | None, outliers: dict
) -> None:
    utils_db(conn)["annotations"].update(
        annotation_id, {"description": description, "outliers": dumps(outliers)}
    )


def domain_annotations(
    store: Store, domain_id: int, taxonomy_id: int, status: str = "ok"
) -> list[sqlite3.Row]:
    """Annotations of a domain's items for one taxonomy, with the item's title and description."""
    return store.query(
        "SELECT a.*, i.title AS item_title, i.description AS item_description, i.external_id "
        "FROM annotations a JOIN items i ON i.id = a.item_id "
        "WHERE i.domain_id = ? AND a.taxonomy_id = ? AND a.status = ? ORDER BY a.item_id",
        (domain_id, taxonomy_id, status),
    )


def latest_annotation(store: Store, item_id: int, taxonomy_id: int | None = None) -> sqlite3.Row | None:
    """The item's annotation for `taxonomy_id`, else for the newest taxonomy that has one."""
    sql = (
        "SELECT a.*, t.version AS taxonomy_version FROM annotations a JOIN taxonomies t ON t.id = a.taxonomy_id "
        "WHERE a.item_id = ?"
    )
    params: tuple = (item_id,)
    if taxonomy_id is not None:
        sql += " AND a.taxonomy_id = ?"
        params += (taxonomy_id,)
    return store.one(sql + " ORDER BY t.version DESC LIMIT 1", params)


def annotation_count(store: Store, domain_id: int, taxonomy_id: int) -> dict[str, int]:
    rows = store.query(
        "SELECT a.status, count(*) AS n FROM annotations a JOIN items i ON i.id = a.item_id "
        "WHERE i.domain_id = ? AND a.taxonomy_id = ? GROUP BY a.status",
        (domain_id, taxonomy_id),
    )
    out = {"ok": 0, "failed": 0}
    out.update({r["status"]: r["n"] for r in rows})
    return out


def domain_semantic_counts(store: Store, domain_id: int) -> dict[str, int]:
    """For `data stats`: items of the domain annotated (ok), failed, and embedded (any model), over
    the dataset's latest taxonomy (0 annotated when there is none)."""
    tax = store.one(
        "SELECT t.id FROM taxonomies t JOIN domains d ON d.dataset_id = t.dataset_id WHERE d.id = ? "
        "ORDER BY t.version DESC LIMIT 1",
        (domain_id,),
    )
    counts = annotation_count(store, domain_id, tax["id"]) if tax else {"ok": 0, "failed": 0}
    embedded = store.one(
        "SELECT count(DISTINCT e.item_id) FROM embeddings e JOIN items i ON i.id = e.item_id WHERE i.domain_id = ?",
        (domain_id,),
    )[0]
    return {"annotated": counts["ok"], "failed": counts["failed"], "embedded": embedded}


# -- embeddings -----------------------------------------------------------------------------------


def domain_label_rows(store: Store, domain_id: int, taxonomy_id: int) -> list[sqlite3.Row]:
    """Every ok annotation of a domain for one taxonomy: item id, external id, raw, categories,
    labels and label probabilities (JSON), method. What the label statistics and benches read."""
    return store.query(
        "SELECT a.item_id, a.labels, a.label_probs, a.method, i.external_id, i.raw, i.categories, i.title "
        "FROM annotations a JOIN items i ON i.id = a.item_id "
        "WHERE i.domain_id = ? AND a.taxonomy_id = ? AND a.status = 'ok' ORDER BY a.item_id",
        (domain_id, taxonomy_id),
    )


def domain_vector_texts(store: Store, domain_id: int) -> list[sqlite3.Row]:
    """Every vector of a domain: item external id, model, hash of the text it encodes."""
    return store.query(
        "SELECT i.external_id, e.model, e.text_hash FROM embeddings e JOIN items i ON i.id = e.item_id "
        "WHERE i.domain_id = ? ORDER BY i.external_id, e.model",
        (domain_id,),
    )


def annotated_item_ids(store: Store, domain_id: int, taxonomy_id: int, method: str | None = None) -> set[int]:
    sql = ("SELECT a.item_id FROM annotations a JOIN items i ON i.id = a.item_id "
           "WHERE i.domain_id = ? AND a.taxonomy_id = ? AND a.status = 'ok'")  # fmt: skip
    params: tuple = (domain_id, taxonomy_id)
    if method is not None:
        sql += " AND a.method = ?"
        params += (method,)
    return {r[0] for r in store.query(sql, params)}


def taxonomy_origin(store: Store, taxonomy_id: int) -> str | None:
    row = store.one("SELECT origin FROM taxonomies WHERE id = ?", (taxonomy_id,))
    return row["origin"] if row else None


def set_outliers(conn: sqlite3.Connection, annotation_id: int, outliers: dict) -> None:
    utils_db(conn)["annotations"].update(annotation_id, {"outliers": json.dumps(outliers)})


def loads(text: str | None) -> Any:
    return json.loads(text) if text else None
