"""Taxonomy induction: `--method facets` (default, `taxonomy_facets.py`) or propose -> merge ->
refine (TnT-LLM) for large models.

The propose path samples items of both
domains (seeded), asks the LLM per minibatch to PROPOSE domain-agnostic categories with
subcategories (JSON-schema constrained), asks it to MERGE the normalised, frequency-ranked
proposals into exactly K categories with 3-15 subcategories each, then to REFINE that against
sample items. Every answer is normalised and validated (`taxonomy_rules.py`); when the merge does
not validate after `retries` re-generations, a deterministic consolidation of the proposals is
used, and when that needs the fixed seed list the induction fails unless `allow_fallback` (then
the stored origin is "fallback"). Rules live in `taxonomy/rules.py`."""

from __future__ import annotations

import copy
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from semacdr_cli import safe_json
from semacdr_cli.config import TaxonomyConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend, Constraint
from semacdr_cli.prompting import load_schema, load_template, schema_hash, sha256_text
from semacdr_cli.retry import ask_until_valid
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem
from semacdr_cli.taxonomy.asking import (
    CachedLLM,
    InduceResult,
    Progress,
    _item_line,
    sample_items,
)
from semacdr_cli.taxonomy.rules import (
    GENERIC_SUBCATEGORIES,
    SEED_CATEGORIES,
    _is_domain_specific,
    _schema_error,
    consolidate_proposals,
    copies_item_titles,
    drop_malformed,
    name_key,
    normalize_categories,
    parse_taxonomy_answer,
)


def _render_taxonomy(categories: list[dict]) -> str:
    return "\n".join(f"- {c['name']}: {', '.join(c['subcategories'])}" for c in categories)


def consolidation_schema(base: dict, k: int) -> dict:
    schema = copy.deepcopy(base)
    schema["properties"]["categories"]["minItems"] = k
    schema["properties"]["categories"]["maxItems"] = k
    return schema


def induce_by_proposals(store: Store, dataset_id: int, backend: Backend, config: TaxonomyConfig,
                      progress: Progress | None, domains: list[str], dom_rows: list, t0: float) -> InduceResult:  # fmt: skip
    """Propose -> merge -> refine (TnT-LLM), for models that write JSON (`--method propose`)."""
    propose_t = load_template("taxonomy_propose", config.prompts_dir)
    merge_t = load_template("taxonomy_consolidate", config.prompts_dir)
    refine_t = load_template("taxonomy_refine", config.prompts_dir)
    propose_schema = load_schema("taxonomy_propose", config.prompts_dir)
    merge_schema = consolidation_schema(load_schema("taxonomy_consolidate", config.prompts_dir), config.k)
    llm = CachedLLM(store, backend, config.sampling, config.batch_size)
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
            obj = safe_json.loads(text)
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
