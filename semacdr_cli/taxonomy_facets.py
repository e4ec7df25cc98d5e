"""Taxonomy induction a small model can do (`taxonomy induce --method facets`, the default).

A 135M model cannot write a whole taxonomy as one JSON answer, so it is asked only short
questions:
1. sample items of both domains (seeded) and cluster their MiniLM vectors together (k-means,
   `clusters`, default min(16, items / 5));
2. for each cluster, show the LLM its most central titles and ask each facet question of a
   vocabulary (`prompts/taxonomy_facets.json`: Genre, Target Audience, Occasion, ...), answer in
   one to three words (greedy, at most 10 tokens, stops at a newline);
3. clean every answer (first words only, no digits or markup, not a domain name, not a title, not
   "none"/"various"), merge near-duplicates within a facet (same key, one inside the other, or
   difflib >= 0.8), keep at most 15 per facet, most frequent first;
4. the K facets whose answers vary most across clusters (distinct values x share of clusters
   answered) become the categories, their answers the subcategories; validated as any taxonomy.
The result depends on the items: other data give other answers, other facets and other values.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections import Counter
from typing import Any

from semacdr_cli.config import TaxonomyConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend, Constraint, SamplingConfig
from semacdr_cli.prompting import _find, load_template, sha256_text
from semacdr_cli.store import Store
from semacdr_cli.taxonomy import (
    MAX_SUBCATEGORIES,
    MIN_SUBCATEGORIES,
    _LLM,
    malformed_name,
    name_key,
    normalize_name,
    sample_items,
    validate_categories,
)

VAGUE = {"none", "unknown", "n a", "na", "various", "item", "product", "thing", "other", "general", "all", "everyone",
         "anyone", "everything", "misc", "miscellaneous", "same", "different", "it", "they", "yes", "no", "answer"}  # fmt: skip
_LEADING = re.compile(r"^(the items are|these items are|they are|it is|answer|these are|all|the|a|an)\b[:\s]*", re.I)


def _line(domain: str, row) -> str:
    title = " ".join((row["title"] or "").split())[:90]
    desc = " ".join((row["description"] or "").split())[:110]
    return f"- [{domain}] {title}" + (f": {desc}" if desc else "")


def load_facets(prompts_dir: str | None = None) -> list[dict]:
    text, where = _find("taxonomy_facets.json", prompts_dir)
    try:
        facets = json.loads(text)["facets"]
        assert all(isinstance(f["name"], str) and isinstance(f["question"], str) for f in facets)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise SemacdrError('expected {"facets": [{"name": ..., "question": ...}, ...]}', path=where) from None
    return facets


_DANGLING = {"a", "an", "the", "of", "to", "for", "and", "with", "in", "on", "who", "that", "which", "is", "are", "by",
             "from", "as", "at", "or", "be"}  # fmt: skip


_GROUPING = {"mix", "variety", "combination", "collection", "list", "set", "group", "range", "type", "kind", "item",
             "product"}  # "Mix of Genres", "Collection of Books": about the group, not a value


def clean_answer(text: str, *, domains: list[str], facet: str, title_keys: list[str], instructions: str = ""
                 ) -> str | None:  # fmt: skip
    """The answer as a subcategory name, or None when it is no usable value."""
    t = " ".join(text.replace('"', " ").split()).strip(" .,:;!?-*")
    for _ in range(2):
        t = _LEADING.sub("", t).strip(" .,:;!?-*")
    words = re.split(r"[,.;/(]| and | or ", t, maxsplit=1)[0].split()[:3]
    name = normalize_name(" ".join(words))
    key = name_key(name)
    if not key or len(key) < 3 or any(ch.isdigit() for ch in name) or malformed_name(name):
        return None
    if not re.fullmatch(r"[A-Za-z][A-Za-z '&-]*", name):
        return None
    toks = set(key.split())
    if toks <= VAGUE or key == name_key(facet) or toks <= {t for d in domains for t in name_key(d).split()}:
        return None
    if len(key.split()) >= 2 and any(f" {key} " in f" {tk} " for tk in title_keys):
        return None
    if key.split()[-1] in _DANGLING or key.split()[0] in _GROUPING or (instructions and f" {key} " in f" {instructions} "):
        return None  # cut mid-phrase ("To Create A"), or words copied from the instructions
    return name


def merge_values(values: list[str]) -> list[tuple[str, int]]:
    """(display name, clusters) per distinct value, near-duplicates merged, most frequent first."""
    groups: list[dict[str, Any]] = []
    for v in values:
        key = name_key(v)
        for g in groups:
            if key == g["key"] or difflib.SequenceMatcher(None, key, g["key"]).ratio() >= 0.85:
                g["names"][v] += 1
                g["n"] += 1
                break
        else:
            groups.append({"key": key, "names": Counter({v: 1}), "n": 1, "first": len(groups)})
    groups.sort(key=lambda g: (-g["n"], g["first"]))
    return [(min(g["names"], key=lambda s: (len(name_key(s)), -g["names"][s])), g["n"]) for g in groups]


def induce_facets(store: Store, dataset_id: int, backend: Backend, config: TaxonomyConfig, progress=None
                  ) -> tuple[list[dict] | None, dict[str, Any], dict[str, str]]:  # fmt: skip
    """(categories or None when fewer than K facets qualify, stats, prompt hashes)."""
    import numpy as np
    from sklearn.cluster import KMeans

    from semacdr_cli.embed import item_text_vectors

    t0 = time.perf_counter()
    domains = [config.source, config.target]
    rows, vecs = [], []
    for d in domains:
        dom = store.domain(dataset_id, d)
        picked = sample_items(store, dom["id"], config.sample, config.seed)
        ids, mat = item_text_vectors(store, dom["id"], [r["id"] for r in picked])
        by_id = {r["id"]: r for r in picked}
        rows += [(d, by_id[i]) for i in ids]
        vecs.append(mat)
    if len(rows) < 4:
        raise SemacdrError(f"too few items in domains {domains} to induce a taxonomy (need 4, have {len(rows)})")
    x = np.concatenate(vecs)
    m = config.clusters or max(2, min(16, len(rows) // 5))
    m = min(m, len(rows))
    km = KMeans(n_clusters=m, n_init=5, random_state=config.seed).fit(x)
    facets = load_facets(config.prompts_dir)
    template = load_template("taxonomy_facet", config.prompts_dir)
    clusters = []
    for c in range(m):
        members = np.where(km.labels_ == c)[0]
        dist = ((x[members] - km.cluster_centers_[c]) ** 2).sum(1)
        central = [rows[i] for i in members[np.argsort(dist)][:6]]
        clusters.append({"size": int(len(members)), "domains": sorted({d for d, _ in central}),
                         "lines": "\n".join(_line(d, r) for d, r in central)})  # fmt: skip
    chats = [template.render(items=c["lines"], question=f["question"], facet=f["name"]) for c in clusters for f in facets]
    sampling = SamplingConfig(max_tokens=10, seed=config.seed, stop=("\n",))
    llm = _LLM(store, backend, sampling, config.batch_size)
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress("name clusters", done[0], len(chats))

    answers = llm(chats, Constraint(), tick)
    title_keys = [name_key(r["title"] or "") for _, r in rows]
    instructions = name_key(template.text.replace("{{", " ").replace("}}", " "))
    per_facet: dict[str, dict[str, Any]] = {}
    for fi, f in enumerate(facets):
        raw = [answers[ci * len(facets) + fi] for ci in range(m)]
        values = [clean_answer(a or "", domains=domains, facet=f["name"], title_keys=title_keys,
                               instructions=instructions) for a in raw]  # fmt: skip
        merged = merge_values([v for v in values if v])[:MAX_SUBCATEGORIES]
        answered = sum(v is not None for v in values) / m
        per_facet[f["name"]] = {"answers": raw, "values": merged, "answered": round(answered, 3),
                                "score": round(len(merged) * answered, 3)}  # fmt: skip
    def usable(f: dict) -> bool:
        cat = {"name": f["name"], "subcategories": [v for v, _ in per_facet[f["name"]]["values"]]}
        per_facet[f["name"]]["errors"] = validate_categories([cat], domains=domains)
        return not per_facet[f["name"]]["errors"]

    ranked = sorted((f for f in facets if usable(f)), key=lambda f: -per_facet[f["name"]]["score"])
    chosen, taken = [], set()  # greedy: a facet counts only values no chosen facet has (no two facets alike)
    pool = list(ranked)
    while pool and len(chosen) < config.k:
        def fresh(f: dict) -> float:
            vals = per_facet[f["name"]]["values"]
            return sum(name_key(v) not in taken for v, _ in vals) * per_facet[f["name"]]["answered"]

        best = max(pool, key=lambda f: (fresh(f), per_facet[f["name"]]["score"]))
        pool.remove(best)
        chosen.append(best)
        taken |= {name_key(v) for v, _ in per_facet[best["name"]]["values"]}
    cats = [{"name": f["name"], "subcategories": [v for v, _ in per_facet[f["name"]]["values"]]} for f in chosen]
    stats = {
        "method": "facets", "sampled_items": len(rows), "clusters": m, "facets_asked": len(facets),
        "qualified_facets": [f["name"] for f in ranked], "facets": per_facet, "llm_calls": llm.calls,
        "cached_calls": llm.cached, "tokens_in": llm.tokens_in, "tokens_out": llm.tokens_out,
        "seconds": round(time.perf_counter() - t0, 3),
    }  # fmt: skip
    hashes = {"taxonomy_facet": template.hash, "taxonomy_facets.json": sha256_text(json.dumps(facets, sort_keys=True))}
    if len(cats) < config.k:
        stats["failure"] = (f"only {len(cats)} of {config.k} facets got {MIN_SUBCATEGORIES}+ usable answers "
                            f"({', '.join(f['name'] for f in ranked) or 'none'})")  # fmt: skip
        return None, stats, hashes
    errors = validate_categories(cats, k=config.k, domains=domains)
    if errors:
        stats["failure"] = "; ".join(errors[:3])
        return None, stats, hashes
    return cats, stats, hashes
