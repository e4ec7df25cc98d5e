"""Shared by the trainer benchmarks: a store of Food-Kitchen, and optional random semantic fixtures."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FOOD_KITCHEN = ROOT.parent / "shared" / "data" / "amazon-food-kitchen"


def food_kitchen_store(path: str | None) -> str:
    """The store at ``path``, or a temp store with Food-Kitchen imported by the llmcdsr importer."""
    if path:
        return path
    from semacdr_cli.ingest import import_dataset
    from semacdr_cli.store import Store

    out = Path(tempfile.mkdtemp(prefix="semacdr-bench-")) / "fk.db"
    with Store(out) as s:
        import_dataset(s, "llmcdsr", FOOD_KITCHEN, domains=["food", "kitchen"])
    return str(out)


def with_random_semantics(
    path: str, categories: int = 5, subcategories: int = 6, dim: int = 384, seed: int = 0
) -> str:
    """A copy of the store with a random taxonomy, random labels and random vectors for every item
    (timing fixtures only: they carry no information)."""
    from semacdr_cli.store import Store, now

    copy = Path(tempfile.mkdtemp(prefix="semacdr-bench-sem-")) / "fk-random-semantics.db"
    shutil.copy(path, copy)
    rng = np.random.default_rng(seed)
    with Store(copy) as s, s.transaction() as c:
        ds = c.execute("SELECT id FROM datasets ORDER BY id DESC LIMIT 1").fetchone()[0]
        version = (
            c.execute("SELECT max(version) FROM taxonomies WHERE dataset_id = ?", (ds,)).fetchone()[0] or 0
        ) + 1
        tax = c.execute(
            "INSERT INTO taxonomies (dataset_id, version, origin, created_at) VALUES (?, ?, 'imported', ?)",
            (ds, version, now()),
        ).lastrowid
        subs = []
        for k in range(categories):
            cid = c.execute(
                "INSERT INTO taxonomy_categories (taxonomy_id, position, name) VALUES (?, ?, ?)",
                (tax, k, f"random{k}"),
            ).lastrowid
            subs.append(
                [
                    c.execute(
                        "INSERT INTO taxonomy_subcategories (category_id, position, name) VALUES (?,?,?)",
                        (cid, j, f"r{k}.{j}"),
                    ).lastrowid
                    for j in range(subcategories)
                ]
            )
        items = [
            r[0]
            for r in c.execute(
                "SELECT i.id FROM items i JOIN domains d ON d.id = i.domain_id WHERE d.dataset_id = ?", (ds,)
            )
        ]
        stamp = now()
        for item in items:
            ann = c.execute(
                "INSERT INTO annotations (item_id, taxonomy_id, status, labels, model, backend, prompt_hash, "
                "schema_hash, created_at) VALUES (?, ?, 'ok', '{}', 'random-fixture', 'none', '-', '-', ?)",
                (item, tax, stamp),
            ).lastrowid
            for cat in subs:
                for sub in rng.choice(cat, size=int(rng.integers(1, 3)), replace=False):
                    c.execute(
                        "INSERT INTO annotation_labels (annotation_id, subcategory_id) VALUES (?, ?)",
                        (ann, int(sub)),
                    )
            c.execute(
                "INSERT OR REPLACE INTO embeddings (item_id, model, dim, vector, text_hash, created_at) "
                "VALUES (?, 'random-fixture', ?, ?, '-', ?)",
                (item, dim, rng.normal(size=dim).astype("<f4").tobytes(), stamp),
            )
    return str(copy)
