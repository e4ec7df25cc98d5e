"""Store reads and writes of the training side: sequences, splits, items, labels, vectors, runs.

Plain functions taking a ``Store``; the trainer's ``data`` module is their only caller besides the
``runs`` registry helpers used by the CLI.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from semacdr_cli.store.core import Store, dumps, now
from semacdr_cli.store.interactions import domain_item_ids  # noqa: F401  (re-exported for the trainer)

# -- interactions and items ------------------------------------------------------------------------


def interactions(store: Store, domain_ids: list[int]) -> list[tuple[int, int, int, int, str]]:
    """(user_id, item_id, domain_id, position, split) of the given domains, by user then position."""
    marks = ",".join("?" * len(domain_ids))
    rows = store.conn.execute(
        f"SELECT user_id, item_id, domain_id, position, split FROM interactions "
        f"WHERE domain_id IN ({marks}) ORDER BY user_id, position",
        tuple(domain_ids),
    )
    return [tuple(r) for r in rows]


# -- taxonomy labels and embeddings ----------------------------------------------------------------
def latest_taxonomy_id(store: Store, dataset_id: int) -> int | None:
    row = store.one(
        "SELECT id FROM taxonomies WHERE dataset_id = ? ORDER BY version DESC LIMIT 1", (dataset_id,)
    )
    return None if row is None else row[0]


def taxonomy_shape(store: Store, taxonomy_id: int) -> list[tuple[int, int, int]]:
    """(category_position, category_id, subcategory_id) of a taxonomy, in category order."""
    rows = store.query(
        "SELECT c.position, c.id, s.id FROM taxonomy_categories c "
        "JOIN taxonomy_subcategories s ON s.category_id = c.id "
        "WHERE c.taxonomy_id = ? ORDER BY c.position, s.position",
        (taxonomy_id,),
    )
    return [tuple(r) for r in rows]


def item_labels(store: Store, taxonomy_id: int, domain_ids: list[int]) -> list[tuple[int, int, int]]:
    """(item_id, category_id, subcategory_id) of every successful annotation of these domains."""
    marks = ",".join("?" * len(domain_ids))
    rows = store.query(
        f"SELECT a.item_id, s.category_id, s.id FROM annotations a "
        f"JOIN annotation_labels l ON l.annotation_id = a.id "
        f"JOIN taxonomy_subcategories s ON s.id = l.subcategory_id "
        f"JOIN items i ON i.id = a.item_id "
        f"WHERE a.taxonomy_id = ? AND a.status = 'ok' AND i.domain_id IN ({marks})",
        (taxonomy_id, *domain_ids),
    )
    return [tuple(r) for r in rows]


def embedding_models(store: Store, domain_ids: list[int]) -> list[tuple[str, int, int]]:
    """(model, dim, vectors) of the embeddings stored for these domains, most vectors first."""
    marks = ",".join("?" * len(domain_ids))
    rows = store.query(
        f"SELECT e.model, e.dim, count(*) AS n FROM embeddings e JOIN items i ON i.id = e.item_id "
        f"WHERE i.domain_id IN ({marks}) GROUP BY e.model, e.dim ORDER BY n DESC, e.model",
        tuple(domain_ids),
    )
    return [tuple(r) for r in rows]


def item_vectors(store: Store, model: str, domain_ids: list[int]) -> list[tuple[int, int, bytes]]:
    """(item_id, dim, float32 blob) of one embedding model for these domains."""
    marks = ",".join("?" * len(domain_ids))
    rows = store.query(
        f"SELECT e.item_id, e.dim, e.vector FROM embeddings e JOIN items i ON i.id = e.item_id "
        f"WHERE e.model = ? AND i.domain_id IN ({marks})",
        (model, *domain_ids),
    )
    return [tuple(r) for r in rows]


# -- the runs registry -----------------------------------------------------------------------------
def create_run(
    store: Store,
    *,
    dataset_id: int,
    model: str,
    source_domain: str | None,
    target_domain: str,
    ablation: str | None,
    seed: int,
    group_id: str | None,
    run_dir: Callable[[int], str],
    config: dict,
    taxonomy_id: int | None,
    embedding_model: str | None,
    versions: dict,
) -> int:
    """Register a run: its row and its folder (``run_dir(id)`` names the folder, and may make it) in one
    transaction, so a run whose folder could not be made leaves no row behind."""
    record = {
        "dataset_id": dataset_id, "model": model, "source_domain": source_domain, "target_domain": target_domain,
        "ablation": ablation, "seed": seed, "group_id": group_id, "status": "running", "run_dir": "",
        "config": dumps(config), "taxonomy_id": taxonomy_id, "embedding_model": embedding_model,
        "versions": dumps(versions), "created_at": now(),
    }  # fmt: skip
    with store.transaction() as conn:
        sql = f"INSERT INTO runs ({', '.join(record)}) VALUES ({', '.join('?' * len(record))})"
        run_id = int(conn.execute(sql, list(record.values())).lastrowid)
        conn.execute("UPDATE runs SET run_dir = ? WHERE id = ?", (run_dir(run_id), run_id))
    return run_id


def finish_run(
    store: Store, run_id: int, *, status: str, best_epoch: int | None, metrics: dict | None
) -> None:
    store.db["runs"].update(run_id, {
        "status": status, "best_epoch": best_epoch, "metrics": None if metrics is None else dumps(metrics),
        "finished_at": now(),
    })  # fmt: skip


def set_run_metrics(store: Store, run_id: int, metrics: dict) -> None:
    with store.transaction() as c:
        c.execute("UPDATE runs SET metrics = ? WHERE id = ?", (dumps(metrics), run_id))


def get_run(store: Store, run_id: int) -> dict | None:
    row = store.one("SELECT * FROM runs WHERE id = ?", (run_id,))
    return None if row is None else decode_run(row)


def latest_run(store: Store, *, status: str | None = None) -> dict | None:
    if status is None:
        row = store.one("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
    else:
        row = store.one("SELECT * FROM runs WHERE status = ? ORDER BY id DESC LIMIT 1", (status,))
    return None if row is None else decode_run(row)


def group_runs(store: Store, group_id: str) -> list[dict]:
    return [
        decode_run(r) for r in store.query("SELECT * FROM runs WHERE group_id = ? ORDER BY id", (group_id,))
    ]


def list_runs(store: Store) -> list[dict]:
    return [decode_run(r) for r in store.query("SELECT * FROM runs ORDER BY id")]


def stopping(run: dict) -> str | None:
    """How a run's training ended: "converged" (early stop), "hit cap", or None (not recorded: an older or
    unfinished run)."""
    metrics = run.get("metrics")
    train = (metrics.get("train") or {}) if isinstance(metrics, dict) else {}
    if train.get("hit_cap") is None:
        return None
    return "hit cap" if train["hit_cap"] else "converged"


def decode_run(row: sqlite3.Row) -> dict:
    """The one decoder of a ``runs`` row: JSON columns decoded (undecodable JSON becomes None)."""
    run = dict(row)
    for key in ("config", "metrics", "versions"):
        raw = run.get(key)
        if raw is None:
            continue
        try:
            run[key] = json.loads(raw)
        except (TypeError, ValueError):
            run[key] = None
    return run
