"""Label quality against an answer key: NMI per category beside k-means on MiniLM vectors.

`quality_table(store, dataset_id, domain, truth)` takes `truth` = {external item id: class}. Per
category, each labelled item's primary label is its cluster (an unlabelled item is the cluster
"(none)"); NMI against the class is the figure. The anchor is k-means (sklearn, n_init=5, seed 0)
on the items' normalised MiniLM vectors of their own text with k = the category's subcategory
count, as the office dev set's README measures it. The answer key never reaches a prompt.
"""

from __future__ import annotations

import json

from semacdr_cli.labels.stats import nmi
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem


def kmeans_anchor(vectors, truth: list[str], k: int, seed: int = 0) -> float:
    from sklearn.cluster import KMeans

    k = max(1, min(k, len(truth)))
    pred = KMeans(n_clusters=k, n_init=5, random_state=seed).fit_predict(vectors)
    return round(nmi([str(p) for p in pred], truth), 4)


def quality_table(store: Store, dataset_id: int, domain: str, truth: dict[str, str],
                  taxonomy_version: int | None = None, anchors: bool = True) -> dict:  # fmt: skip
    """The per-category table over every labelled item in the answer key, and the same table per
    labelling method (``by_method``: the items the LLM scored apart from those distilled from them,
    each beside k-means on the same items), which says what distillation costs."""
    from semacdr_cli.embed import item_text_vectors

    dom = store.domain(dataset_id, domain)
    tax = sem.get_taxonomy(store, dataset_id, taxonomy_version)
    rows = [r for r in sem.domain_label_rows(store, dom["id"], tax["id"]) if r["external_id"] in truth]
    if not rows:
        raise ValueError(f"no labelled {domain} item is in the answer key")
    vecs = None
    if anchors:
        ids, mat = item_text_vectors(store, dom["id"], [r["item_id"] for r in rows])
        pos = {i: n for n, i in enumerate(ids)}
        vecs = mat[[pos[r["item_id"]] for r in rows]]
    tree = sem.taxonomy_tree(store, tax["id"])
    labels = [json.loads(r["labels"]) if r["labels"] else {} for r in rows]  # parsed once for every part
    y = [truth[r["external_id"]] for r in rows]
    methods = sorted({r["method"] for r in rows})
    by_method = {}
    if len(methods) > 1:
        for m in methods:
            keep = [n for n, r in enumerate(rows) if r["method"] == m]
            sub = _per_category([labels[n] for n in keep], [y[n] for n in keep], tree,
                                None if vecs is None else vecs[keep])  # fmt: skip
            by_method[m] = {"items": len(keep), "per_category": sub}
    return {"domain": domain, "taxonomy_version": tax["version"], "taxonomy_origin": tax["origin"],
            "items": len(rows), "classes": len(set(y)), "methods": methods,
            "per_category": _per_category(labels, y, tree, vecs), "by_method": by_method}  # fmt: skip


def _per_category(labels: list[dict], y: list[str], tree: list[dict], vecs) -> list[dict]:
    """One row per category: its primary labels' NMI against the classes ``y`` and, with ``vecs``,
    k-means NMI at k = the category's subcategory count on the same items."""
    out = []
    anchor_cache: dict[int, float] = {}
    for cat in tree:
        k = len(cat["subcategories"])
        pred = [(lab.get(cat["name"]) or ["(none)"])[0] for lab in labels]
        if vecs is not None and k not in anchor_cache:
            anchor_cache[k] = kmeans_anchor(vecs, y, k)
        out.append({"category": cat["name"], "k": k, "used": len(set(pred) - {"(none)"}),
                    "labelled": round(sum(p != "(none)" for p in pred) / len(pred), 4),
                    "nmi": round(nmi(pred, y), 4), "kmeans_nmi": anchor_cache.get(k)})  # fmt: skip
    return out
