"""Taxonomy induction: `--method facets` (default, `taxonomy_facets.py`) or propose -> merge ->
refine (TnT-LLM) for large models.

`induce_taxonomy(store, dataset_id, backend, config)`. The propose path samples items of both
domains (seeded), asks the LLM per minibatch to PROPOSE domain-agnostic categories with
subcategories (JSON-schema constrained), asks it to MERGE the normalised, frequency-ranked
proposals into exactly K categories with 3-15 subcategories each, then to REFINE that against
sample items. Every answer is normalised and validated (`taxonomy_rules.py`); when the merge does
not validate after `retries` re-generations, a deterministic consolidation of the proposals is
used, and when that needs the fixed seed list the induction fails unless `allow_fallback` (then
the stored origin is "fallback"). Rules live in `taxonomy_rules.py`, files in `taxonomy_files.py`;
both are re-exported here.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from semacdr_cli.config import TaxonomyConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend, Constraint, Generation, SamplingConfig
from semacdr_cli.prompting import canonical_json, load_schema, load_template, schema_hash, sha256_text
from semacdr_cli.retry import ask_until_valid
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem
from semacdr_cli.taxonomy_files import (  # noqa: F401  (re-exported)
    export_taxonomy,
    import_taxonomy,
    read_taxonomy_file,
    taxonomy_document,
)
from semacdr_cli.taxonomy_rules import (  # noqa: F401  (re-exported)
    GENERIC_SUBCATEGORIES,
    MAX_NAME_CHARS,
    MAX_SUBCATEGORIES,
    MIN_SUBCATEGORIES,
    SEED_CATEGORIES,
    _is_domain_specific,
    _schema_error,
    _similar,
    consolidate_proposals,
    copies_item_titles,
    drop_malformed,
    malformed_name,
    name_key,
    normalize_categories,
    normalize_name,
    parse_taxonomy_answer,
    validate_categories,
)

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
        self.store, self.backend, self.sampling, self.batch_size = (
            store,
            backend,
            sampling,
            max(1, batch_size),
        )
        self.calls = self.cached = self.tokens_in = self.tokens_out = 0

    def __call__(
        self, chats: list[list[dict]], constraint: Constraint, tick: Callable[[int], None] | None = None
    ):
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


def prepare_induction(store: Store, dataset_id: int, config: TaxonomyConfig) -> None:
    """Validate the job (settings, both domains, the prompt files) before any model is loaded."""
    if config.k < 1:
        raise SemacdrError("-K: must be at least 1")
    if config.sample < 1 or config.minibatch < 1:
        raise SemacdrError("--sample and --minibatch must be at least 1")
    if config.batch_size < 1:
        raise SemacdrError("--batch-size: must be at least 1")
    if config.source == config.target:
        raise SemacdrError("--source and --target must be two different domains")
    for d in (config.source, config.target):
        store.domain(dataset_id, d)
    if config.method not in ("facets", "propose"):
        raise SemacdrError(f"--method: must be facets or propose, not {config.method!r}")
    if config.method == "propose":
        for name in ("taxonomy_propose", "taxonomy_consolidate", "taxonomy_refine"):
            load_template(name, config.prompts_dir)


def induce_taxonomy(
    store: Store,
    dataset_id: int,
    backend: Backend,
    config: TaxonomyConfig,
    progress: Progress | None = None,
) -> InduceResult:
    """Induce a taxonomy from `config.source` and `config.target` items and store it as a new version
    (the job is prepared, i.e. validated, first)."""
    prepare_induction(store, dataset_id, config)
    t0 = time.perf_counter()
    domains = [config.source, config.target]
    dom_rows = [store.domain(dataset_id, d) for d in domains]
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

    def check(_item, text: str):
        return parse_taxonomy_answer(text, merge_schema, k=config.k, domains=domains)

    def ask_merge(_items, feedbacks: list[str]) -> list[str]:
        chat = merge_t.render(
            source=config.source,
            target=config.target,
            candidates=candidates,
            k=config.k,
            feedback=feedbacks[0],
        )
        return llm([chat], Constraint(json_schema=merge_schema), tick("merge", 1))

    merged, merge_errors = None, ["no valid proposals to merge"]
    if ranked:
        [merged], [merge_errors] = ask_until_valid([None], ask_merge, check, config.retries + 1)
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

        def ask_refine(_items, feedbacks: list[str]) -> list[str]:
            chat = refine_t.render(
                source=config.source, target=config.target, taxonomy=_render_taxonomy(merged), items=lines,
                k=config.k, feedback=feedbacks[0],
            )  # fmt: skip
            return llm([chat], Constraint(json_schema=merge_schema), tick("refine", 1))

        [refined], [refine_errors] = ask_until_valid([None], ask_refine, check, config.retries + 1)
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
    tax_id, version, stats["kept"] = sem.insert_taxonomy_unless_latest(
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
    out += [
        {"name": f"Facet {i + 1}", "subcategories": list(GENERIC_SUBCATEGORIES)} for i in range(k - len(out))
    ]
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
    tax_id, version, stats["kept"] = sem.insert_taxonomy_unless_latest(
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
        g = groups.setdefault(
            name_key(p["name"]), {"name": p["name"], "count": 0, "subs": Counter(), "order": len(groups)}
        )
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
