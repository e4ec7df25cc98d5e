"""The degeneracy guard: do a domain's labels carry information? Plus NMI against a ground truth.

Per category of a taxonomy, over a domain's ok annotations, with each item's *primary* label (the
first stored subcategory: the most probable one for scored labels):
- `labelled`: share of items with a label in the category (scored labels may leave it empty);
- `entropy`: normalised entropy of the primary labels (0 = one label for all, 1 = uniform);
- `top_label`, `top_share`: the most used primary label and its share of all items;
- `first_listed_share`: share of items whose primary label is the category's first subcategory
  (a model that picks by position shows here);
- `unused`: subcategories no item carries (a taxonomy-level finding, not a per-item rewrite).
A category is *degenerate* when `top_share` >= 0.8 (labels do not vary with the item),
`first_listed_share` >= 0.8, or fewer than 5 % of items have a label in it (it says almost nothing);
`annotate` prints a warning for each (`--strict`: non-zero exit).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem

MAX_TOP_SHARE = 0.8
MIN_LABELLED = 0.05


def entropy(counts: list[int]) -> float:
    """Normalised Shannon entropy of a count vector over `len(counts)` outcomes (0..1)."""
    n = sum(counts)
    if n == 0 or len(counts) < 2:
        return 0.0
    h = -sum(c / n * math.log(c / n) for c in counts if c)
    return h / math.log(len(counts))


def category_stats(primary: list[str | None], subcategories: list[str]) -> dict[str, Any]:
    """The guard's figures for one category from each item's primary label (None: unlabelled)."""
    labelled = [p for p in primary if p]
    counts = Counter(labelled)
    top, top_n = counts.most_common(1)[0] if counts else ("", 0)
    out = {
        "items": len(primary),
        "labelled": round(len(labelled) / len(primary), 4) if primary else 0.0,
        "entropy": round(entropy([counts.get(s, 0) for s in subcategories]), 4),
        "top_label": top,
        "top_share": round(top_n / len(primary), 4) if primary else 0.0,
        "first_listed_share": round(counts.get(subcategories[0], 0) / len(primary), 4)
        if primary and subcategories
        else 0.0,
        "used": sum(1 for s in subcategories if counts.get(s)),
        "unused": [s for s in subcategories if not counts.get(s)],
    }
    problems = []
    if labelled and out["top_share"] >= MAX_TOP_SHARE:
        problems.append(f"{out['top_share']:.0%} of items carry '{top}'")
    if labelled and out["first_listed_share"] >= MAX_TOP_SHARE and top != subcategories[0]:
        problems.append(f"{out['first_listed_share']:.0%} carry the first-listed option")
    if primary and len(labelled) < MIN_LABELLED * len(primary):
        problems.append(f"only {len(labelled) / len(primary):.1%} of items have a label")
    out["degenerate"] = "; ".join(problems)
    return out


def _primary(labels_json: str | None, category: str) -> str | None:
    labels = json.loads(labels_json) if labels_json else {}
    subs = labels.get(category) or []
    return subs[0] if subs else None


def domain_label_stats(
    store: Store, dataset_id: int, domain: str, taxonomy_version: int | None = None
) -> dict:
    """`{"domain", "taxonomy_version", "items", "methods": {...}, "categories": [{name, ...stats}]}`."""
    dom = store.domain(dataset_id, domain)
    tax = sem.get_taxonomy(store, dataset_id, taxonomy_version)
    rows = sem.domain_label_rows(store, dom["id"], tax["id"])
    cats = []
    for c in sem.taxonomy_tree(store, tax["id"]):
        subs = [s["name"] for s in c["subcategories"]]
        primary = [_primary(r["labels"], c["name"]) for r in rows]
        cats.append({"name": c["name"], **category_stats(primary, subs)})
    return {
        "domain": domain,
        "taxonomy_version": tax["version"],
        "taxonomy_origin": tax["origin"],
        "items": len(rows),
        "methods": dict(Counter(r["method"] for r in rows)),
        "categories": cats,
    }


def degenerate_categories(
    store: Store, dataset_id: int, domain: str, taxonomy_version: int | None = None
) -> list[str]:
    """One warning line per degenerate category of the domain (empty: the labels carry information)."""
    st = domain_label_stats(store, dataset_id, domain, taxonomy_version)
    if not st["items"]:
        return []
    return [f"{domain} / {c['name']}: {c['degenerate']}" for c in st["categories"] if c["degenerate"]]


def nmi(pred: list[str], truth: list[str]) -> float:
    """Normalised mutual information (arithmetic mean of the entropies, as sklearn's default)."""
    n = len(pred)
    if n == 0 or len(pred) != len(truth):
        raise ValueError("pred and truth must be non-empty and of equal length")
    cp, ct, joint = Counter(pred), Counter(truth), Counter(zip(pred, truth, strict=True))
    hp = -sum(v / n * math.log(v / n) for v in cp.values())
    ht = -sum(v / n * math.log(v / n) for v in ct.values())
    mi = sum(v / n * math.log((v / n) / ((cp[a] / n) * (ct[b] / n))) for (a, b), v in joint.items())
    if hp == 0 and ht == 0:
        return 1.0
    denom = (hp + ht) / 2
    return max(0.0, mi / denom) if denom > 0 else 0.0


def guard_markdown(per_domain: list[dict], esc=lambda s: s) -> str:
    """The guard as a markdown table (one row per domain and category), for the report; `esc`
    escapes untrusted names (taxonomy names come from an LLM or a file)."""
    rows = ["| domain | category | labelled | entropy | top label (share) | first-listed | unused | degenerate |",
            "|---|---|---:|---:|---|---:|---:|---|"]  # fmt: skip
    for st in per_domain:
        for c in st["categories"]:
            rows.append(f"| {esc(st['domain'])} | {esc(c['name'])} | {c['labelled']:.2f} | {c['entropy']:.2f} | "
                        f"{esc(c['top_label'] or '-')} ({c['top_share']:.2f}) | {c['first_listed_share']:.2f} | "
                        f"{len(c['unused'])} | {esc(c['degenerate'] or '-')} |")  # fmt: skip
    return "\n".join(rows)
