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
    from semacdr_cli.store import Store
    from semacdr_cli.store import embeddings as emb
    from semacdr_cli.store import semantic as sem

    copy = Path(tempfile.mkdtemp(prefix="semacdr-bench-sem-")) / "fk-random-semantics.db"
    shutil.copy(path, copy)
    rng = np.random.default_rng(seed)
    with Store(copy) as s:
        ds = s.dataset()["id"]  # the most recently imported dataset
        spec = [{"name": f"random{k}", "subcategories": [f"r{k}.{j}" for j in range(subcategories)]}
                for k in range(categories)]  # fmt: skip
        tax, _version = sem.insert_taxonomy(s, ds, spec, origin="imported")
        subs = [[x["id"] for x in c["subcategories"]] for c in sem.taxonomy_tree(s, tax)]
        items = [i for d in s.domains(ds) for i in sem.domain_item_ids(s, d["id"])]
        base = {"taxonomy_id": tax, "status": "ok", "labels": {}, "attempts": 1, "model": "random-fixture", "backend": "none",
                "prompt_hash": "-", "schema_hash": "-"}  # fmt: skip
        with s.transaction() as c:
            for item in items:
                labels = [
                    int(x)
                    for cat in subs
                    for x in rng.choice(cat, size=int(rng.integers(1, 3)), replace=False)
                ]
                sem.upsert_annotation(c, {**base, "item_id": item}, labels)
            vectors = [(item, rng.normal(size=dim).astype("<f4").tobytes(), dim, "-", None) for item in items]
            emb.write_embeddings(c, "random-fixture", vectors)
    return str(copy)
