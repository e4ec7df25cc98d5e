"""Everything the store knows about one item, plus its nearest items of the other domain(s).

`inspect_item(store, ref)` returns a plain dict (what `semacdr inspect item --json` prints):
`item` (ids, domain, title, text), `labels` ({category: [subcategory, ...]}), `description`,
`status`, `failure_reason`, `outliers`, `provenance`, `embedding` and `nearest` (cosine over stored
embeddings of the same model, other domains of the same dataset).
"""

from __future__ import annotations

import json
from typing import Any

from semacdr_cli.config import DEFAULT_EMBED_MODEL
from semacdr_cli.store import Store
from semacdr_cli.store import embeddings as emb
from semacdr_cli.store import semantic as sem


def nearest_other_domain(store: Store, item_id: int, dataset_id: int, domain: str, k: int = 5,
                         model: str | None = None) -> tuple[list[dict], str | None]:  # fmt: skip
    """(top-k items of the other domains by cosine similarity, embedding model used)."""
    import numpy as np

    mine = emb.item_embeddings(store, item_id)
    if not mine:
        return [], None
    chosen = next((e for e in mine if e["model"] == (model or DEFAULT_EMBED_MODEL)), mine[0])
    others = [d["id"] for d in store.domains(dataset_id) if d["name"] != domain]
    rows = emb.domain_embeddings(store, others, chosen["model"])
    rows = [r for r in rows if r["dim"] == chosen["dim"]]
    if not rows:
        return [], chosen["model"]
    q = np.frombuffer(chosen["vector"], dtype="<f4")
    mat = np.frombuffer(b"".join(r["vector"] for r in rows), dtype="<f4").reshape(len(rows), chosen["dim"])
    norms = np.linalg.norm(mat, axis=1) * (np.linalg.norm(q) or 1.0)
    sims = mat @ q / np.where(norms == 0, 1.0, norms)
    top = np.argsort(-sims, kind="stable")[:k]
    return [
        {
            "id": rows[i]["item_id"],
            "external_id": rows[i]["external_id"],
            "domain": rows[i]["domain"],
            "title": rows[i]["title"],
            "cosine": round(float(sims[i]), 4),
        }
        for i in top
    ], chosen["model"]


def inspect_item(store: Store, ref: str, dataset_id: int | None = None, k: int = 5) -> dict[str, Any]:
    item = store.find_item(ref, dataset_id)
    ann = sem.latest_annotation(store, item["id"])
    out: dict[str, Any] = {
        "item": {
            "id": item["id"],
            "external_id": item["external_id"],
            "domain": item["domain"],
            "title": item["title"],
            "text": item["description"],
            "categories": sem.loads(item["categories"]),
            "brand": item["brand"],
        },
        "status": ann["status"] if ann else "not annotated",
        "labels": {},
        "description": None,
        "failure_reason": None,
        "outliers": None,
        "provenance": None,
    }
    if ann:
        out["labels"] = sem.loads(ann["labels"]) or {}
        out["description"] = ann["description"]
        out["failure_reason"] = ann["failure_reason"]
        out["outliers"] = sem.loads(ann["outliers"])
        dist = sem.loads(ann["label_probs"]) or {}
        out["label_probs"] = {
            c: {x: dist.get(c, {}).get(x) for x in subs} for c, subs in out["labels"].items()
        }
        out["provenance"] = {
            "annotation_id": ann["id"],
            "method": ann["method"],
            "taxonomy_origin": sem.taxonomy_origin(store, ann["taxonomy_id"]),
            "taxonomy_version": ann["taxonomy_version"],
            "model": ann["model"],
            "backend": ann["backend"],
            "prompt_hash": ann["prompt_hash"],
            "schema_hash": ann["schema_hash"],
            "sampling": json.loads(ann["sampling"]) if ann["sampling"] else None,
            "attempts": ann["attempts"],
            "tokens_in": ann["tokens_in"],
            "tokens_out": ann["tokens_out"],
            "seconds": ann["seconds"],
            "cache_key": ann["cache_key"],
            "created_at": ann["created_at"],
        }
    nearest, model = nearest_other_domain(store, item["id"], item["dataset_id"], item["domain"], k)
    embs = emb.item_embeddings(store, item["id"])
    chosen = next((e for e in embs if e["model"] == model), None)
    out["embedding"] = (
        {
            "model": model,
            "dim": chosen["dim"],
            "models": [e["model"] for e in embs],
            # what the vector encodes: an annotation's enriched description, or the item's own text
            "encodes": f"title + description of annotation {chosen['annotation_id']}"
            if chosen["annotation_id"]
            else "title + raw description",
        }
        if chosen
        else None
    )
    out["nearest"] = nearest
    return out
