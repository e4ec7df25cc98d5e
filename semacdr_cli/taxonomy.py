"""Taxonomy induction (propose -> merge -> refine, as in TnT-LLM), validation, import and export.

`induce_taxonomy(store, dataset_id, backend, config)` samples items of both domains (seeded), asks
the LLM per minibatch to PROPOSE domain-agnostic categories with subcategories (JSON-schema
constrained), asks it to MERGE the normalised, frequency-ranked proposals into exactly K categories
with 3-15 subcategories each, then to REFINE that against sample items. Every LLM answer is
normalised (case, whitespace, plural/singular, duplicates) and validated (schema + the rules in
`validate_categories`); when the merge does not validate after `retries` re-generations, a
deterministic consolidation of the proposals (`consolidate_proposals`) is used instead, and the
provenance says which path produced the stored version.
"""

from __future__ import annotations

import copy
import difflib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semacdr_cli.config import TaxonomyConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend, Constraint, Generation, SamplingConfig
from semacdr_cli.prompting import canonical_json, load_schema, load_template, schema_hash, sha256_text
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem

MIN_SUBCATEGORIES = 3
MAX_SUBCATEGORIES = 15
MAX_NAME_CHARS = 40

# Generic, domain-agnostic categories used only to pad a deterministic consolidation that has too
# few categories or subcategories (recorded in provenance when used).
SEED_CATEGORIES: list[tuple[str, list[str]]] = [
    ("Target Audience", ["Children", "Teens", "Adults", "Seniors", "Families", "Professionals"]),
    ("Occasion", ["Everyday", "Holiday", "Gift", "Party", "Travel", "Special Occasion"]),
    ("Style", ["Classic", "Modern", "Minimalist", "Decorative", "Rustic"]),
    ("Price Level", ["Budget", "Mid-Range", "Premium", "Luxury"]),
    ("Usage Context", ["Home", "Outdoor", "Office", "On The Go", "Commercial"]),
    ("Quality Focus", ["Durability", "Convenience", "Health", "Sustainability", "Performance"]),
    ("Origin", ["Local", "Imported", "Handmade", "Brand Name", "Generic"]),
    ("Mood", ["Relaxing", "Energizing", "Fun", "Comforting", "Practical"]),
    ("Skill Level", ["Beginner", "Intermediate", "Expert"]),
    ("Season", ["Spring", "Summer", "Autumn", "Winter", "All Year"]),
]
GENERIC_SUBCATEGORIES = ["General", "Specialty", "Other"]
_DOMAIN_FILLER = {"product", "item", "type", "category", "good", "general", "department", "and", "&", "other"}

# -- names ------------------------------------------------------------------------------------------


def _singular(token: str) -> str:
    if len(token) <= 3 or not token.isalpha():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "shes", "ches", "xes", "zes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is", "os")):
        return token[:-1]
    return token


def name_key(name: str) -> str:
    """The comparison key of a name: lower case, punctuation to spaces, each word singular."""
    tokens = re.sub(r"[^0-9a-z]+", " ", name.lower()).split()
    return " ".join(_singular(t) for t in tokens)


def normalize_name(name: str) -> str:
    """A clean display form: trimmed, one space between words, quotes and trailing punctuation gone,
    words capitalised (all-caps acronyms such as DIY kept), at most 40 characters."""
    s = re.sub(r"\s+", " ", str(name)).strip().strip("\"'`*-_:;.,!?()[]{}").strip()
    words: list[str] = []
    shouting = s.isupper() and " " in s  # "ON THE GO" is not three acronyms
    for w in s.split(" "):
        if not shouting and len(w) <= 4 and w.isupper() and w.isalpha():
            words.append(w)
        elif w.lower() in {"and", "or", "of", "for", "the", "to", "in", "on"} and words:
            words.append(w.lower())
        else:
            words.append("-".join(part[:1].upper() + part[1:].lower() for part in w.split("-")))
    return " ".join(words)[:MAX_NAME_CHARS].strip()


def normalize_categories(categories: list[dict]) -> list[dict]:
    """Normalise names and drop duplicates: categories with the same key are merged (subcategories
    unioned in order), subcategories are deduplicated within their category by key."""
    out: list[dict] = []
    index: dict[str, dict] = {}
    for cat in categories:
        name = normalize_name(cat.get("name", ""))
        key = name_key(name)
        if not key:
            continue
        target = index.get(key)
        if target is None:
            target = {"name": name, "subcategories": [], "_keys": set()}
            if cat.get("description"):
                target["description"] = cat["description"]
            index[key] = target
            out.append(target)
        for sub in cat.get("subcategories", []):
            sname = normalize_name(sub)
            skey = name_key(sname)
            if skey and skey not in target["_keys"]:
                target["_keys"].add(skey)
                target["subcategories"].append(sname)
    for cat in out:
        del cat["_keys"]
    return out


def _is_domain_specific(name: str, domains: list[str]) -> bool:
    """True when a category name is only a domain name (plus filler words such as 'products')."""
    tokens = set(name_key(name).split()) - _DOMAIN_FILLER
    domain_tokens = {t for d in domains for t in name_key(d).split()}
    return not tokens or tokens <= domain_tokens


def copies_item_titles(cat: dict, title_keys: list[str]) -> bool:
    """True when a proposed category is lifted from item titles rather than a shared property: its
    name (3+ words) stands in a sampled title, or most of its subcategories (2+ words) do. A small
    model copies titles ("The Blood Moon Curse": ["Dread Curse", ...]); such a category would then
    leak into every annotation prompt."""

    def in_titles(name: str, min_words: int) -> bool:
        key = name_key(name)
        return len(key.split()) >= min_words and any(f" {key} " in f" {t} " for t in title_keys)

    subs = cat.get("subcategories", [])
    copied = sum(in_titles(sub, 2) for sub in subs)
    return in_titles(cat.get("name", ""), 3) or (bool(subs) and copied * 2 > len(subs))


_MARKUP = re.compile(r"[{}\[\]<>|=\\]|::")


def malformed_name(name: str) -> bool:
    """True for a name no reader would take for a category: markup or template debris
    ("{{description|strip=lg", "Jsonencoder({ Encoding:'b"), or mostly words with digits
    ("Almonds 1.2u 1.2v X 1.2v": two or more such words, at least half). A small model's proposals contain such names."""
    words = name.split()
    with_digits = sum(any(ch.isdigit() for ch in w) for w in words)
    return bool(_MARKUP.search(name)) or (with_digits >= 2 and with_digits * 2 >= len(words))


def drop_malformed(cat: dict) -> dict | None:
    """The category without its malformed subcategories; None when its name is malformed or too few
    subcategories remain."""
    if malformed_name(cat.get("name", "")):
        return None
    subs = [x for x in cat.get("subcategories", []) if not malformed_name(x)]
    return {**cat, "subcategories": subs} if len(subs) >= MIN_SUBCATEGORIES else None


def validate_categories(categories: list[dict], *, k: int | None = None, domains: list[str] = ()) -> list[str]:
    """Every rule a stored taxonomy must meet; an empty list means valid."""
    errors = []
    if k is not None and len(categories) != k:
        errors.append(f"expected exactly {k} categories, got {len(categories)}")
    seen: dict[str, str] = {}
    for i, cat in enumerate(categories):
        name = cat.get("name", "")
        key = name_key(name)
        where = f"categories[{i}] ({name!r})"
        if not key:
            errors.append(f"{where}: empty name")
            continue
        if key in seen:
            errors.append(f"{where}: duplicate of category {seen[key]!r}")
        seen[key] = name
        if domains and _is_domain_specific(name, list(domains)):
            errors.append(f"{where}: names a domain, not a domain-agnostic property")
        subs = cat.get("subcategories", [])
        if not MIN_SUBCATEGORIES <= len(subs) <= MAX_SUBCATEGORIES:
            errors.append(f"{where}: needs {MIN_SUBCATEGORIES}-{MAX_SUBCATEGORIES} subcategories, has {len(subs)}")
        skeys = [name_key(s) for s in subs]
        dupes = sorted({s for s in skeys if skeys.count(s) > 1})
        if dupes:
            errors.append(f"{where}: duplicate subcategories {dupes}")
        if any(not s for s in skeys):
            errors.append(f"{where}: empty subcategory name")
        if malformed_name(name) or any(malformed_name(x) for x in subs):
            errors.append(f"{where}: a name is markup or mostly numbers, not a category")
    return errors


def _schema_error(instance: Any, schema: dict) -> str | None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    err = best_match(Draft202012Validator(schema).iter_errors(instance))
    if err is None:
        return None
    return f"{_json_path(err.absolute_path)}: {err.message}"


def _json_path(parts) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def parse_taxonomy_answer(text: str, schema: dict, *, k: int, domains: list[str]) -> tuple[list[dict] | None, str]:
    """(normalised categories, "") when the LLM's answer is a valid taxonomy, else (None, reason)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc.msg} at char {exc.pos})"
    err = _schema_error(obj, schema)
    if err:
        return None, f"schema: {err}"
    cats = normalize_categories(obj["categories"])
    errors = validate_categories(cats, k=k, domains=domains)
    if errors:
        return None, "; ".join(errors[:3])
    return cats, ""


# -- deterministic consolidation ------------------------------------------------------------------


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    ta, tb = set(a.split()), set(b.split())
    if ta and tb and (ta <= tb or tb <= ta):
        return True
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def consolidate_proposals(proposals: list[dict], *, k: int, domains: list[str]) -> tuple[list[dict], dict]:
    """A deterministic merge of proposed categories into exactly k valid ones; returns (categories, notes).

    Category names are clustered by key similarity (same key, one key's words inside the other's,
    or difflib ratio >= 0.8), clusters are ranked by how often they were proposed, subcategories by
    frequency; clusters that only name a domain are dropped. Missing categories or subcategories are
    padded from a fixed generic seed list (SEED_CATEGORIES), and `notes` records what was padded.
    """
    clusters: list[dict] = []
    for prop in proposals:
        name = normalize_name(prop.get("name", ""))
        key = name_key(name)
        if not key or _is_domain_specific(name, domains):
            continue
        for cl in clusters:
            if _similar(key, cl["key"]):
                break
        else:
            cl = {"key": key, "names": Counter(), "count": 0, "subs": Counter(), "sub_names": {}, "first": len(clusters)}
            clusters.append(cl)
        cl["names"][name] += 1
        cl["count"] += 1
        for sub in prop.get("subcategories", []):
            sname = normalize_name(sub)
            skey = name_key(sname)
            if skey and skey != cl["key"]:
                cl["subs"][skey] += 1
                cl["sub_names"].setdefault(skey, sname)
    clusters.sort(key=lambda c: (-c["count"], -len(c["subs"]), c["first"]))
    rich = [c for c in clusters if len(c["subs"]) >= MIN_SUBCATEGORIES]
    poor = [c for c in clusters if len(c["subs"]) < MIN_SUBCATEGORIES]
    chosen = (rich + poor)[:k]
    notes: dict[str, Any] = {"clusters": len(clusters), "padded_subcategories": {}, "padded_categories": []}
    seed = {name_key(n): subs for n, subs in SEED_CATEGORIES}
    out: list[dict] = []
    used_keys: set[str] = set()
    for cl in chosen:
        name = max(cl["names"].items(), key=lambda kv: kv[1])[0]  # most proposed, first seen on ties
        subs = [cl["sub_names"][s] for s, _ in sorted(cl["subs"].items(), key=lambda kv: (-kv[1], kv[0]))]
        subs = subs[:MAX_SUBCATEGORIES]
        if len(subs) < MIN_SUBCATEGORIES:
            pad = [s for s in seed.get(cl["key"], []) + GENERIC_SUBCATEGORIES if name_key(s) not in {name_key(x) for x in subs}]
            added = pad[: MIN_SUBCATEGORIES - len(subs)]
            subs += added
            notes["padded_subcategories"][name] = added
        out.append({"name": name, "subcategories": subs})
        used_keys.add(cl["key"])
    for sname, ssubs in SEED_CATEGORIES:
        if len(out) >= k:
            break
        if any(_similar(name_key(sname), u) for u in used_keys):
            continue
        out.append({"name": sname, "subcategories": list(ssubs)})
        used_keys.add(name_key(sname))
        notes["padded_categories"].append(sname)
    n = 1
    while len(out) < k:  # k larger than the seed list: numbered generic categories keep it valid
        out.append({"name": f"Facet {n}", "subcategories": list(GENERIC_SUBCATEGORIES)})
        notes["padded_categories"].append(f"Facet {n}")
        n += 1
    out = normalize_categories(out)
    errors = validate_categories(out, k=k, domains=domains)
    if errors:  # cannot happen by construction; fail loudly rather than store an invalid taxonomy
        raise SemacdrError(f"deterministic consolidation produced an invalid taxonomy: {errors[0]}")
    return out, notes


# -- the induction job ----------------------------------------------------------------------------


@dataclass
class InduceResult:
    taxonomy_id: int
    version: int
    categories: list[dict]
    path: str  # which steps produced the stored taxonomy
    stats: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[str, int, int], None]  # (step, done, total)


def _item_line(row, domain: str, width: int = 160) -> str:
    text = " ".join((row["title"] or "").split())
    desc = " ".join((row["description"] or "").split())
    if desc:
        text = f"{text} - {desc}"
    return f"- [{domain}] {text[:width]}"


def _cache_key(chat: list[dict], constraint: Constraint, model: str, sampling: SamplingConfig) -> str:
    return sha256_text(
        canonical_json(
            {
                "chat": chat,
                "schema": constraint.json_schema,
                "choices": constraint.choices,
                "model": model,
                "sampling": sampling.as_dict(),
            }
        )
    )


class _LLM:
    """Batched, cached generation for the taxonomy job (a re-run reuses every answer already made)."""

    def __init__(self, store: Store, backend: Backend, sampling: SamplingConfig, batch_size: int):
        self.store, self.backend, self.sampling, self.batch_size = store, backend, sampling, max(1, batch_size)
        self.calls = self.cached = self.tokens_in = self.tokens_out = 0

    def __call__(self, chats: list[list[dict]], constraint: Constraint, tick: Callable[[int], None] | None = None):
        keys = [_cache_key(c, constraint, self.backend.model, self.sampling) for c in chats]
        hits = sem.cache_get(self.store, keys)
        out: list[str | None] = [hits[k]["output"] if k in hits else None for k in keys]
        self.cached += sum(o is not None for o in out)
        todo = [i for i, o in enumerate(out) if o is None]
        if tick and len(todo) < len(chats):
            tick(len(chats) - len(todo))
        for start in range(0, len(todo), self.batch_size):
            idx = todo[start : start + self.batch_size]
            gens: list[Generation] = self.backend.generate([chats[i] for i in idx], constraint, self.sampling)
            with self.store.transaction() as conn:
                for i, g in zip(idx, gens, strict=True):
                    out[i] = g.text
                    sem.cache_put(conn, keys[i], g.text, g.tokens_in, g.tokens_out)
                    self.tokens_in += g.tokens_in
                    self.tokens_out += g.tokens_out
            self.calls += len(idx)
            if tick:
                tick(len(idx))
        return out


def sample_items(store: Store, domain_id: int, n: int, seed: int) -> list:
    ids = sem.domain_item_ids(store, domain_id)
    rng = random.Random(seed)
    picked = sorted(rng.sample(ids, min(n, len(ids))))
    return sem.items_by_ids(store, picked)


def _render_taxonomy(categories: list[dict]) -> str:
    return "\n".join(f"- {c['name']}: {', '.join(c['subcategories'])}" for c in categories)


def consolidation_schema(base: dict, k: int) -> dict:
    schema = copy.deepcopy(base)
    schema["properties"]["categories"]["minItems"] = k
    schema["properties"]["categories"]["maxItems"] = k
    return schema


def induce_taxonomy(
    store: Store,
    dataset_id: int,
    backend: Backend,
    config: TaxonomyConfig,
    progress: Progress | None = None,
) -> InduceResult:
    """Induce a taxonomy from `config.source` and `config.target` items and store it as a new version."""
    if config.k < 1:
        raise SemacdrError("-K: must be at least 1")
    if config.sample < 1 or config.minibatch < 1:
        raise SemacdrError("--sample and --minibatch must be at least 1")
    t0 = time.perf_counter()
    domains = [config.source, config.target]
    if config.source == config.target:
        raise SemacdrError("--source and --target must be two different domains")
    dom_rows = [store.domain(dataset_id, d) for d in domains]
    if config.method not in ("facets", "propose"):
        raise SemacdrError(f"--method: must be facets or propose, not {config.method!r}")
    if config.method == "facets":
        return _induce_by_facets(store, dataset_id, backend, config, progress, domains)
    propose_t = load_template("taxonomy_propose", config.prompts_dir)
    merge_t = load_template("taxonomy_consolidate", config.prompts_dir)
    refine_t = load_template("taxonomy_refine", config.prompts_dir)
    propose_schema = load_schema("taxonomy_propose", config.prompts_dir)
    merge_schema = consolidation_schema(load_schema("taxonomy_consolidate", config.prompts_dir), config.k)
    llm = _LLM(store, backend, config.sampling, config.batch_size)
    done: Counter = Counter()

    def tick(step: str, total: int) -> Callable[[int], None] | None:
        """A callback adding n finished answers to `step` (the bar shows the running count)."""
        if progress is None:
            return None

        def add(n: int) -> None:
            done[step] += n
            progress(step, done[step], max(total, done[step]))

        return add


    # 1. PROPOSE, per minibatch of sampled items of both domains
    sampled = []
    for d, row in zip(domains, dom_rows, strict=True):
        sampled += [(d, r) for r in sample_items(store, row["id"], config.sample, config.seed)]
    if not sampled:
        raise SemacdrError(f"no items in domains {domains}; import data first")
    random.Random(config.seed).shuffle(sampled)
    batches = [sampled[i : i + config.minibatch] for i in range(0, len(sampled), config.minibatch)]
    chats = [
        propose_t.render(
            source=config.source,
            target=config.target,
            items="\n".join(_item_line(r, d) for d, r in batch),
            n_categories=config.proposals_per_batch,
        )
        for batch in batches
    ]
    answers = llm(chats, Constraint(json_schema=propose_schema), tick("propose", len(chats)))
    proposals: list[dict] = []
    rejected_proposals = 0
    title_keys = [name_key(r["title"] or "") for _, r in sampled]
    for text in answers:
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            rejected_proposals += 1
            continue
        if _schema_error(obj, propose_schema):
            rejected_proposals += 1
            continue
        for cat in normalize_categories(obj["categories"]):
            clean = drop_malformed(cat)
            if clean is None or copies_item_titles(clean, title_keys):
                rejected_proposals += 1
            else:
                proposals.append(clean)

    # 2. MERGE into exactly K categories (LLM, re-generated with feedback), else deterministic
    ranked = _rank_proposals(proposals, domains)
    candidates = "\n".join(
        f"- {c['name']} (proposed {c['count']}x): {', '.join(c['subcategories'][:12])}" for c in ranked[:30]
    )
    merged, merge_errors = None, []
    if ranked:
        for attempt in range(config.retries + 1):
            feedback = (
                f"Your previous answer was rejected: {merge_errors[-1]}. Fix exactly that." if merge_errors else ""
            )
            chat = merge_t.render(
                source=config.source, target=config.target, candidates=candidates, k=config.k, feedback=feedback
            )
            (text,) = llm([chat], Constraint(json_schema=merge_schema), tick("merge", 1))
            merged, reason = parse_taxonomy_answer(text, merge_schema, k=config.k, domains=domains)
            if merged is not None:
                break
            merge_errors.append(reason)
    else:
        merge_errors.append("no valid proposals to merge")
    notes: dict[str, Any] = {}
    if merged is not None:
        path = ["llm-merge"]
    else:
        merged, notes = consolidate_proposals(proposals, k=config.k, domains=domains)
        path = ["deterministic-merge"]
        padded = notes["padded_categories"] or notes["padded_subcategories"]
        if padded and not config.allow_fallback:
            raise SemacdrError(
                f"taxonomy induction failed: {len(proposals)} usable proposals, the merge did not validate "
                f"({(merge_errors or ['-'])[-1][:120]}), and a consolidation would need the fixed seed list "
                f"({len(notes['padded_categories'])} categories); try --method facets, a larger --model, or "
                "--allow-fallback"
            )

    # 3. REFINE against a few sampled items; kept only when it still validates
    refine_errors: list[str] = []
    if config.refine:
        lines = "\n".join(_item_line(r, d, 120) for d, r in sampled[: min(len(sampled), 20)])
        refined = None
        for attempt in range(config.retries + 1):
            feedback = (
                f"Your previous answer was rejected: {refine_errors[-1]}. Fix exactly that." if refine_errors else ""
            )
            chat = refine_t.render(
                source=config.source,
                target=config.target,
                taxonomy=_render_taxonomy(merged),
                items=lines,
                k=config.k,
                feedback=feedback,
            )
            (text,) = llm([chat], Constraint(json_schema=merge_schema), tick("refine", 1))
            refined, reason = parse_taxonomy_answer(text, merge_schema, k=config.k, domains=domains)
            if refined is not None:
                break
            refine_errors.append(reason)
        if refined is not None:
            merged = refined
            path.append("llm-refine")
        else:
            path.append("refine-rejected")

    hashes = {
        "taxonomy_propose": propose_t.hash,
        "taxonomy_consolidate": merge_t.hash,
        "taxonomy_refine": refine_t.hash,
        "taxonomy_propose.schema": schema_hash(propose_schema),
        "taxonomy_consolidate.schema": schema_hash(merge_schema),
    }
    stats = {
        "path": "+".join(path),
        "sampled_items": len(sampled),
        "minibatches": len(batches),
        "proposals": len(proposals),
        "rejected_proposals": rejected_proposals,
        "merge_errors": merge_errors,
        "refine_errors": refine_errors,
        "deterministic_notes": notes,
        "llm_calls": llm.calls,
        "cached_calls": llm.cached,
        "tokens_in": llm.tokens_in,
        "tokens_out": llm.tokens_out,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    params = {"config": config.as_dict(), "hashes": hashes, "stats": stats}
    fallback = bool(notes.get("padded_categories") or notes.get("padded_subcategories"))
    stats["fallback"] = fallback
    tax_id, version = sem.insert_taxonomy(
        store,
        dataset_id,
        merged,
        origin="fallback" if fallback else "induced",
        domains=domains,
        model=backend.model,
        backend=backend.name,
        prompt_hash=sha256_text(propose_t.hash + merge_t.hash + refine_t.hash),
        schema_hash=sha256_text(hashes["taxonomy_propose.schema"] + hashes["taxonomy_consolidate.schema"]),
        params=params,
    )
    return InduceResult(tax_id, version, merged, stats["path"], stats)


def fallback_categories(k: int) -> list[dict]:
    """The fixed, generic seed list (no LLM): only with --allow-fallback, stored as origin "fallback"."""
    out = [{"name": n, "subcategories": list(subs)} for n, subs in SEED_CATEGORIES[:k]]
    out += [{"name": f"Facet {i + 1}", "subcategories": list(GENERIC_SUBCATEGORIES)} for i in range(k - len(out))]
    return out


def _induce_by_facets(store, dataset_id, backend, config, progress, domains) -> InduceResult:
    from semacdr_cli.taxonomy_facets import induce_facets

    cats, stats, hashes = induce_facets(store, dataset_id, backend, config, progress)
    origin, path = "induced", "facets"
    if cats is None:
        if not config.allow_fallback:
            raise SemacdrError(f"taxonomy induction failed: {stats['failure']}; try more items (--sample), "
                               "--method propose with a larger --model, or --allow-fallback")  # fmt: skip
        cats, origin, path = fallback_categories(config.k), "fallback", "fallback-seed-list"
    stats["path"], stats["fallback"] = path, origin == "fallback"
    params = {"config": config.as_dict(), "hashes": hashes, "stats": stats}
    tax_id, version = sem.insert_taxonomy(
        store, dataset_id, cats, origin=origin, domains=domains, model=backend.model, backend=backend.name,
        prompt_hash=sha256_text("".join(hashes.values())), schema_hash=None, params=params,
    )  # fmt: skip
    return InduceResult(tax_id, version, cats, path, stats)


def _rank_proposals(proposals: list[dict], domains: list[str]) -> list[dict]:
    """Proposed categories grouped by key, most frequent first, subcategories by frequency."""
    groups: dict[str, dict] = {}
    for p in proposals:
        if _is_domain_specific(p["name"], domains):
            continue
        g = groups.setdefault(name_key(p["name"]), {"name": p["name"], "count": 0, "subs": Counter(), "order": len(groups)})
        g["count"] += 1
        for s in p["subcategories"]:
            g["subs"][s] += 1
    ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["order"]))
    return [
        {
            "name": g["name"],
            "count": g["count"],
            "subcategories": [s for s, _ in sorted(g["subs"].items(), key=lambda kv: (-kv[1], kv[0]))],
        }
        for g in ranked
    ]


# -- show / export / import -------------------------------------------------------------------------


def taxonomy_document(store: Store, dataset_id: int, version: int | None = None) -> dict[str, Any]:
    """`{"version", "origin", "created_at", "domains", "provenance", "categories": [{"name",
    "subcategories"}]}`: what `taxonomy show --json` prints and `taxonomy export` writes."""
    row = sem.get_taxonomy(store, dataset_id, version)
    cats = []
    for c in sem.taxonomy_tree(store, row["id"]):
        entry: dict[str, Any] = {"name": c["name"], "subcategories": [s["name"] for s in c["subcategories"]]}
        if c["description"]:
            entry["description"] = c["description"]
        cats.append(entry)
    params = sem.loads(row["params"]) or {}
    return {
        "version": row["version"],
        "origin": row["origin"],
        "created_at": row["created_at"],
        "domains": sem.loads(row["domains"]),
        "provenance": {
            "model": row["model"],
            "backend": row["backend"],
            "prompt_hash": row["prompt_hash"],
            "schema_hash": row["schema_hash"],
            "path": (params.get("stats") or {}).get("path"),
            "params": params,
        },
        "categories": cats,
    }


def export_taxonomy(store: Store, dataset_id: int, path: str | Path, version: int | None = None) -> dict:
    doc = taxonomy_document(store, dataset_id, version)
    Path(path).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return doc


def read_taxonomy_file(path: str | Path, prompts_dir: str | None = None) -> list[dict]:
    """Parse and validate a taxonomy file; a one-line SemacdrError names the file and the field."""
    p = Path(path)
    if not p.is_file():
        raise SemacdrError("no such file", path=str(p))
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SemacdrError("not UTF-8 text", path=str(p)) from None
    except json.JSONDecodeError as exc:
        raise SemacdrError(f"not valid JSON ({exc.msg}, column {exc.colno})", path=str(p), line=exc.lineno) from None
    err = _schema_error(doc, load_schema("taxonomy", prompts_dir))
    if err:
        raise SemacdrError(err, path=str(p))
    cats = []
    for c in doc["categories"]:
        entry = {"name": " ".join(c["name"].split()), "subcategories": [" ".join(s.split()) for s in c["subcategories"]]}
        if c.get("description"):
            entry["description"] = c["description"]
        cats.append(entry)
    errors = validate_categories(cats)
    if errors:
        raise SemacdrError(errors[0], path=str(p))
    return cats


def import_taxonomy(store: Store, dataset_id: int, path: str | Path, prompts_dir: str | None = None) -> tuple[int, int]:
    """Validate a (reviewed, edited) taxonomy file and store it as a new version, origin "imported"."""
    cats = read_taxonomy_file(path, prompts_dir)
    return sem.insert_taxonomy(
        store,
        dataset_id,
        cats,
        origin="imported",
        domains=None,
        params={"file": str(Path(path).resolve()), "sha256": sha256_text(Path(path).read_text(encoding="utf-8"))},
    )
