"""What the semantic rows of bench/paper_table.py are trained on: the semantic inputs of a store (its
taxonomy and, per domain, how its items were labelled, with digests of the labels and of the texts
the vectors encode), the part of them each view reads, and their fingerprint (runs of semantic rows
count only beside the inputs they were trained on). ``--prepare`` builds them through the CLI
(paper_table_prepare.py)."""

from __future__ import annotations

import hashlib
import json


def fingerprint(semantics: dict | None) -> str | None:
    """A short hash of the semantic inputs (taxonomy and how each domain was labelled): runs of the
    semantic rows count only beside the inputs they were trained on."""
    if not semantics:
        return None
    body = {"taxonomy": semantics.get("taxonomy"), "domains": semantics.get("domains")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]


def part_of(semantics: dict, part: str):
    """The part of the semantic inputs a view reads (``labels`` or ``texts``: paper_table.reads)."""
    domains = semantics.get("domains") or {}
    if part == "labels":
        keep = ("annotated", "failed", "methods", "labels_digest")
        return semantics.get("taxonomy"), {d: {k: v.get(k) for k in keep} for d, v in sorted(domains.items())}
    return {d: {k: v.get(k) for k in ("embedded", "texts_digest")} for d, v in sorted(domains.items())}


def _taxonomy(s, dataset_id: int) -> tuple:
    """The store's latest taxonomy row and its description (origin, category -> subcategory names)."""
    from semacdr_cli.store import semantic as sem

    tax = sem.get_taxonomy(s, dataset_id)
    tree = sem.taxonomy_tree(s, tax["id"])
    categories = {c["name"]: [x["name"] for x in c["subcategories"]] for c in tree}
    return tax, {"origin": tax["origin"], "categories": categories}


def store_taxonomy(store: str) -> dict:
    """The taxonomy part of ``semantic_inputs`` alone (no label or text digests)."""
    from semacdr_cli.store import Store

    with Store(store, create=False) as s:
        return _taxonomy(s, s.dataset()["id"])[1]


def semantic_inputs(store: str) -> dict:
    """What the semantic rows were trained on: the taxonomy and, per domain, how its items were labelled,
    with digests of the labels and of the texts the vectors encode."""
    from collections import Counter

    from semacdr_cli.store import Store
    from semacdr_cli.store import semantic as sem

    with Store(store, create=False) as s:
        ds = s.dataset()
        tax, described = _taxonomy(s, ds["id"])
        out = {"taxonomy": described, "domains": {}}
        for d in s.domains(ds["id"]):
            rows = sem.domain_label_rows(s, d["id"], tax["id"])
            texts = sem.domain_vector_texts(s, d["id"])
            out["domains"][d["name"]] = {
                **sem.domain_semantic_counts(s, d["id"]),
                "methods": dict(Counter(r["method"] for r in rows)),
                # which labels each item got and which text each vector encodes, so two stores whose
                # LLMs answered differently are told apart even where the counts agree
                "labels_digest": digest((r["external_id"], r["labels"]) for r in rows),
                "texts_digest": digest(tuple(r) for r in texts),
            }
    return out


def digest(rows) -> str:
    """A short hash of rows, independent of their order."""
    h = hashlib.sha256()
    for row in sorted(rows):
        h.update(json.dumps(row).encode())
    return h.hexdigest()[:12]
