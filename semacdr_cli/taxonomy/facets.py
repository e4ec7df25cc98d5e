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
   answered) become the categories, their answers the subcategories, skipping a facet whose values
   mostly repeat a chosen one's (`choose_facets`); validated as any taxonomy.
The result depends on the items: other data give other answers, other facets and other values.
"""

from __future__ import annotations

import difflib
import html
import itertools
import json
import random
import re
import time
from collections import Counter
from typing import Any

from semacdr_cli import safe_json
from semacdr_cli.config import TaxonomyConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend, Constraint, SamplingConfig
from semacdr_cli.prompting import _find, load_template, sha256_text, untrusted_text
from semacdr_cli.store import Store
from semacdr_cli.store.interactions import domain_titles
from semacdr_cli.taxonomy.asking import CachedLLM as CachedLLM
from semacdr_cli.taxonomy.asking import sample_items
from semacdr_cli.taxonomy.rules import (
    MAX_SUBCATEGORIES,
    MIN_SUBCATEGORIES,
    malformed_name,
    name_key,
    normalize_name,
    validate_categories,
)

VAGUE = {"none", "unknown", "n a", "na", "various", "item", "product", "thing", "other", "general", "all", "everyone",
         "anyone", "everything", "misc", "miscellaneous", "same", "different", "it", "they", "yes", "no", "answer",
         "person", "people", "user", "users", "something", "specific", "particular"}  # fmt: skip
_LEADING = re.compile(
    r"^(the items are|these items are|they are|it is|answer|these are|all|the|a|an|for|to|used for|"
    r"used in|made of|made from|about|set in|in|by|mostly|mainly)\b[:\s]*",
    re.IGNORECASE,
)


def _line(domain: str, row) -> str:
    title = untrusted_text(row["title"], 80)
    desc = untrusted_text(row["description"], 100)
    return f"- {title}" + (f": {desc}" if desc else "")


def load_facets(prompts_dir: str | None = None) -> list[dict]:
    text, where = _find("taxonomy_facets.json", prompts_dir)
    try:
        facets = safe_json.loads(text)["facets"]
        assert all(isinstance(f["name"], str) and isinstance(f["question"], str) for f in facets)
        assert all(isinstance(w, str) for f in facets for w in f.get("exclude", []))
    except (ValueError, KeyError, TypeError, AssertionError):
        raise SemacdrError(
            'expected {"facets": [{"name": ..., "question": ..., "exclude": [words, optional]}, ...]}',
            path=where,
        ) from None
    return facets


TITLE_SAMPLE = 20_000  # titles per domain read for brands and the vocabulary of "Non-..." values

_DANGLING = {"a", "an", "the", "of", "to", "for", "and", "with", "in", "on", "who", "that", "which", "is", "are", "by",
             "from", "as", "at", "or", "be", "about", "what", "how", "these", "this", "those"}  # fmt: skip


_GROUPING = {
    "mix",
    "variety",
    "combination",
    "collection",
    "list",
    "set",
    "group",
    "range",
    "type",
    "kind",
    "item",
    "product",
}  # "Mix of Genres", "Collection of Books": about the group, not a value


def clean_answer(text: str, *, domains: list[str], facet: str, title_keys: list[str], instructions: str = "",
                 min_title_words: int = 2, exclude: frozenset[str] = frozenset(),
                 brands: frozenset[str] = frozenset(), vocabulary: frozenset[str] = frozenset()
                 ) -> str | None:  # fmt: skip
    """The answer as a subcategory name, or None when it is no usable value. ``exclude``: words that
    disqualify a value of this facet (the vocabulary's ``exclude``, e.g. colours for an audience);
    ``brands``: name keys that read as makers' names in the domains' titles (`brand_keys`);
    ``vocabulary``: the words of those titles and of the other answers (a "Non-..." value must negate
    one of them)."""
    t = " ".join(html.unescape(text).replace('"', " ").split()).strip(" .,:;!?-*")
    t = re.sub(r"\[[^\]]*\]", " ", t).strip()  # copied "[domain]" tags
    for _ in range(3):
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
    if len(key.split()) >= min_title_words and any(f" {key} " in f" {tk} " for tk in title_keys):
        return None  # a title fragment, not a shared property
    if key in brands or key.split()[0] in brands:
        return None  # "Rubbermaid", "Black & Decker": a maker, not a property items of both domains share
    if vocabulary and key.startswith("non ") and key.split()[1] not in vocabulary:
        return None  # "Non-Gharma": the negation of a word no item uses
    if len(set(key.split())) < len(key.split()):
        return None  # a loop ("Articulated Articulated Articulated"), not a name
    if set(key.split()) & {"a", "an", "the", "who", "whom", "that", "which"}:
        return None  # a phrase ("Create A Unique", "People Who Use"), not a name
    if toks & exclude:
        return None  # "Black Users" as an audience, "Black" as a material: a colour, not a value of the facet
    if (
        key.split()[-1] in _DANGLING
        or key.split()[0] in _GROUPING
        or (instructions and f" {key} " in f" {instructions} ")
    ):
        return None  # cut mid-phrase ("To Create A"), or words copied from the instructions
    return name


def answer_words(answers: list[str | None]) -> frozenset[str]:
    """The words of the LLM's answers, except those it only ever negates ("Non-Gharma" alone does not
    make "gharma" a word; "Fiction" elsewhere makes "Non-Fiction" a value)."""
    words = set()
    for a in answers:
        toks = name_key(html.unescape(a or "")).split()
        words |= {w for i, w in enumerate(toks) if i == 0 or toks[i - 1] != "non"}
    return frozenset(words)


def brand_keys(titles: list[str], max_words: int = 3) -> frozenset[str]:
    """The word n-grams (as name keys) that read as brands: each starts at least two titles and, where
    it occurs in a title at all, is nearly always the title's first words (a maker's name leads a
    product title; "coffee" or "black" occur anywhere)."""
    starts: Counter = Counter()
    anywhere: Counter = Counter()
    for title in titles:
        words = name_key(html.unescape(title or "")).split()
        for n in range(1, max_words + 1):
            grams = {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}
            anywhere.update(grams)
            if len(words) >= n:
                starts[" ".join(words[:n])] += 1
    return frozenset(g for g, c in starts.items() if c >= 2 and c >= 0.8 * anywhere[g])


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


_STOP = {"the", "and", "for", "with", "set", "pack", "inch", "count", "black", "white", "new", "size", "color",
         "piece", "pcs", "ounce", "oz", "one", "two", "box", "each", "from", "your", "that", "this", "you", "are"}  # fmt: skip


def cluster_terms(texts: list[list[str]], top: int = 5) -> list[list[str]]:
    """Per cluster, its most distinctive words and word pairs (class-based TF-IDF over the clusters'
    item titles, without each title's first word, which is mostly the brand): candidate names the
    LLM chooses among for facets marked `from_items`."""
    import math

    def grams(t: str) -> set[str]:
        # the first word of a product title is mostly its brand: a name, not a kind of item
        w = [x for x in re.findall(r"[a-z]{3,}", t.lower())[1:] if x not in _STOP]
        return set(w) | {f"{a} {b}" for a, b in itertools.pairwise(w)}

    per = [Counter(g for t in ts for g in grams(t)) for ts in texts]
    df = Counter(g for c in per for g in c)
    out = []
    for c, ts in zip(per, texts, strict=True):
        n = max(1, len(ts))
        score = {g: (k / n) * math.log(1 + len(texts) / df[g]) for g, k in c.items() if k >= 2 or n < 3}
        out.append([g for g, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))[:top]])
    return out


def _choose_names(backend, template, clusters, f, generated: list[str | None], terms: list[list[str]], clean):
    """For a `from_items` facet: per cluster, the LLM scores its candidates (its own answer and the
    cluster's distinctive words) after the facet question and keeps the most likely one."""
    from semacdr_cli.llm.base import Question

    out = []
    chats, options = [], []
    for c, gen, ts in zip(clusters, generated, terms, strict=True):
        cands = list(dict.fromkeys([x for x in [gen, *(clean(t) for t in ts)] if x]))
        options.append(cands)
        chats.append(template.render(items=c["lines"], question=f["question"], facet=f["name"])[:-1])
    todo = [i for i, o in enumerate(options) if len(o) > 1]
    scored = {}
    for i in todo:  # one question per cluster (each has its own options)
        (res,) = backend.score([chats[i]], [Question(f"{f['name']}:", tuple(f" {o}" for o in options[i]))])
        scored[i] = res.logprobs[0]
    for i, o in enumerate(options):
        if not o:
            out.append(None)
        elif i in scored:
            out.append(o[max(range(len(o)), key=lambda k: scored[i][k])])
        else:
            out.append(o[0])
    return out


def choose_facets(ranked: list[dict], per_facet: dict[str, dict], k: int) -> list[dict]:
    """K facets, most varied first (``ranked``), skipping a facet whose values are mostly ones a chosen
    facet already has (no two facets alike); if fewer than K pass, the rest by how many new values
    each adds (greedy)."""

    def keys(f: dict) -> list[str]:
        return [name_key(v) for v, _ in per_facet[f["name"]]["values"]]

    chosen: list[dict] = []
    taken: set[str] = set()
    for f in ranked:
        if len(chosen) < k and 2 * sum(v not in taken for v in keys(f)) >= len(keys(f)):
            chosen.append(f)
            taken |= set(keys(f))
    pool = [f for f in ranked if f not in chosen]
    while pool and len(chosen) < k:
        best = max(pool, key=lambda f: (sum(v not in taken for v in keys(f)) * per_facet[f["name"]]["answered"],
                                        per_facet[f["name"]]["score"]))  # fmt: skip
        pool.remove(best)
        chosen.append(best)
        taken |= set(keys(best))
    return [f for f in ranked if f in chosen]  # in ranked order


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
        raise SemacdrError(
            f"too few items in domains {domains} to induce a taxonomy (need 4, have {len(rows)})"
        )
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
        central = [rows[i] for i in members[np.argsort(dist)][:8]]
        clusters.append({"size": len(members), "domains": sorted({d for d, _ in central}),
                         "rows": [rows[i] for i in members],
                         "lines": "\n".join(_line(d, r) for d, r in central)})  # fmt: skip
    shot_t = load_template("taxonomy_facet_shot", config.prompts_dir)

    def chat(c: dict, f: dict, shot: bool) -> list[dict]:
        ex = f.get("example")
        if not shot or not ex:
            return template.render(items=c["lines"], question=f["question"], facet=f["name"])
        return shot_t.render(
            items=c["lines"],
            question=f["question"],
            facet=f["name"],
            example_items="\n".join(f"- {x}" for x in ex["items"]),
            example_answer=ex["answer"],
        )

    # each question twice: zero-shot, and one-shot with the facet's example (a small model answers
    # in the right form more often after one example, but copies it for some facets)
    chats = [chat(c, f, shot) for c in clusters for f in facets for shot in (False, True)]
    sampling = SamplingConfig(max_tokens=10, seed=config.seed, stop=("\n",))
    llm = CachedLLM(store, backend, sampling, config.batch_size)
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress:
            progress("name clusters", done[0], len(chats))

    answers = llm(chats, Constraint(), tick)
    title_keys = [name_key(html.unescape(r["title"] or "")) for _, r in rows]
    all_titles = []  # brands and vocabulary from at most TITLE_SAMPLE titles per domain (seeded)
    for d in domains:
        titles = domain_titles(store, store.domain(dataset_id, d)["id"])
        all_titles += random.Random(config.seed).sample(titles, min(TITLE_SAMPLE, len(titles)))
    brands = brand_keys(all_titles)
    vocabulary = frozenset(w for t in all_titles for w in name_key(html.unescape(t)).split()) | answer_words(
        answers
    )
    terms = cluster_terms([[html.unescape(r["title"] or "") for _, r in c["rows"]] for c in clusters])
    instructions = name_key(
        re.sub(r"\{\{\w+\}\}", " ", template.text) + " " + " ".join(f["question"] for f in facets)
    )
    per_facet: dict[str, dict[str, Any]] = {}
    for fi, f in enumerate(facets):
        raw = [
            (answers[(ci * len(facets) + fi) * 2], answers[(ci * len(facets) + fi) * 2 + 1])
            for ci in range(m)
        ]
        example = name_key(f.get("example", {}).get("answer", ""))

        def value(text: str | None, f: dict = f, example: str = example) -> str | None:
            v = clean_answer(text or "", domains=domains, facet=f["name"], title_keys=title_keys,
                             instructions=instructions, min_title_words=3 if f.get("from_items") else 2,
                             exclude=frozenset(w.lower() for w in f.get("exclude", ())), brands=brands,
                             vocabulary=vocabulary)  # fmt: skip
            return v if v and name_key(v) != example else None

        values = [value(zero) or value(one) for zero, one in raw]
        if f.get("from_items") and hasattr(backend, "score"):
            values = _choose_names(backend, template, clusters, f, values, terms, value)
        merged = merge_values([v for v in values if v])[:MAX_SUBCATEGORIES]
        answered = sum(v is not None for v in values) / m
        per_facet[f["name"]] = {"answers": [list(r) for r in raw], "values": merged, "answered": round(answered, 3),
                                "score": round(len(merged) * answered, 3)}  # fmt: skip

    def usable(f: dict) -> bool:
        cat = {"name": f["name"], "subcategories": [v for v, _ in per_facet[f["name"]]["values"]]}
        per_facet[f["name"]]["errors"] = validate_categories([cat], domains=domains)
        return not per_facet[f["name"]]["errors"]

    ranked = sorted((f for f in facets if usable(f)), key=lambda f: -per_facet[f["name"]]["score"])
    chosen = choose_facets(ranked, per_facet, config.k)
    cats = [
        {"name": f["name"], "subcategories": [v for v, _ in per_facet[f["name"]]["values"]]} for f in chosen
    ]
    stats = {
        "method": "facets", "sampled_items": len(rows), "clusters": m, "facets_asked": len(facets),
        "qualified_facets": [f["name"] for f in ranked], "facets": per_facet, "llm_calls": llm.calls,
        "cached_calls": llm.cached, "tokens_in": llm.tokens_in, "tokens_out": llm.tokens_out,
        "seconds": round(time.perf_counter() - t0, 3),
    }  # fmt: skip
    hashes = {
        "taxonomy_facet": template.hash,
        "taxonomy_facet_shot": shot_t.hash,
        "taxonomy_facets.json": sha256_text(json.dumps(facets, sort_keys=True)),
    }
    if len(cats) < config.k:
        stats["failure"] = (f"only {len(cats)} of {config.k} facets got {MIN_SUBCATEGORIES}+ usable answers "
                            f"({', '.join(f['name'] for f in ranked) or 'none'})")  # fmt: skip
        return None, stats, hashes
    errors = validate_categories(cats, k=config.k, domains=domains)
    if errors:
        stats["failure"] = "; ".join(errors[:3])
        return None, stats, hashes
    return cats, stats, hashes
