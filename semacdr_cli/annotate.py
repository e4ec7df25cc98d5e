"""Item annotation, the entry point: `annotate_domain(store, dataset_id, backend, config)`.

`config.method` picks the job: "score" (default; `annotate_score.py`, `annotate_jobs.py`:
calibrated option scoring, short descriptions, `--distill`) or "generate" (`annotate_generate.py`:
one constrained JSON answer per item with retries and the App. C outlier filter). Both are
resumable (each batch commits in one transaction, answers are cached in `llm_cache`), store only
taxonomy ids as labels, and end with the degeneracy guard (`label_stats.py`). This module holds
what both share: the summary, the item text the LLM sees, the JSON schema and answer check of the
generate method.
"""

from __future__ import annotations

import copy
import html
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from semacdr_cli.config import AnnotateConfig
from semacdr_cli.llm.base import Backend
from semacdr_cli.prompting import (
    schema_hash,
)
from semacdr_cli.store import Store

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class AnnotateSummary:
    domain: str
    taxonomy_version: int
    model: str
    backend: str
    threads: int | None = None  # torch threads of a CPU backend; under bf16 the answers depend on it
    in_scope: int = 0  # items considered (the first --limit of the domain by --order, or all)
    skipped: int = 0  # already annotated before this run
    done: int = 0  # stored ok in this run
    cached: int = 0  # LLM answers served from llm_cache
    retried: int = 0  # items that needed more than one attempt
    failed: int = 0  # stored as failed in this run
    filtered: int = 0  # items the outlier filter changed (dropped parts or re-generated)
    regenerated: int = 0  # of those, re-generated
    outlier_check: str = ""  # what the filter did this run
    tokens_in: int = 0  # tokens of the generations made in this run
    tokens_out: int = 0
    seconds: float = 0.0
    items_per_s: float = 0.0
    output_tokens_per_s: float = 0.0
    method: str = "generate"
    labels: int = 0  # labels stored in this run (score / distilled)
    labels_per_item: float = 0.0
    described: int = 0  # items given a description in this run
    distilled: int = 0  # items labelled by the distilled classifier
    distill_agreement: dict = field(default_factory=dict)  # held-out agreement with the LLM per category
    failures_by_reason: dict = field(default_factory=dict)
    guard: list = field(default_factory=list)  # degenerate categories found at the end (warnings)
    warnings: list = field(default_factory=list)  # e.g. a domain continued with other LLM threads

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- schema and prompt ------------------------------------------------------------------------------


def annotation_schema(base: dict, tree: list[dict], *, max_labels: int = 3, max_description_chars: int = 300,
                      exclude: dict[str, set[str]] | None = None) -> dict:  # fmt: skip
    """The output schema for one taxonomy: `labels` = {category: [1..max_labels enum subcategories]},
    `description` a string of at most `max_description_chars`. `exclude` removes subcategories
    (used when the outlier filter re-generates an item without a rare label)."""
    schema = copy.deepcopy(base)
    label_array = schema.pop("x-label-array", {"type": "array", "minItems": 1, "uniqueItems": True})
    props = {}
    for cat in tree:
        names = [s["name"] for s in cat["subcategories"]]
        allowed = [n for n in names if n not in (exclude or {}).get(cat["name"], set())] or names
        arr = dict(label_array)
        arr["items"] = {"type": "string", "enum": allowed}
        arr["minItems"] = 1
        arr["maxItems"] = max(1, min(max_labels, len(allowed)))
        props[cat["name"]] = arr
    schema["properties"]["labels"] = {
        "type": "object",
        "properties": props,
        "required": [c["name"] for c in tree],
        "additionalProperties": False,
    }
    schema["properties"]["description"]["maxLength"] = max_description_chars
    return schema


def _clean(text: str | None, cap: int) -> str:
    """Untrusted item text for a prompt: entities decoded, then angle brackets replaced, so no
    `</item>` (also not one written `&lt;/item&gt;`) can close the item's delimiter; whitespace
    collapsed; at most `cap` characters."""
    t = html.unescape(" ".join((text or "").split()))
    return t.replace("<", "‹").replace(">", "›")[:cap]


def item_text(row) -> str:
    """The item as the LLM sees it (HTML entities decoded, delimiters escaped, long text cut)."""
    parts = [f"Title: {_clean(row['title'], 200)}"]
    if row["description"]:
        parts.append(f"Description: {_clean(row['description'], 600)}")
    if row["categories"]:
        try:
            path = json.loads(row["categories"])
            if isinstance(path, list) and path:
                flat = [" > ".join(map(str, p)) if isinstance(p, list) else str(p) for p in path]
                parts.append(f"Category path: {_clean(' | '.join(flat), 200)}")
        except (json.JSONDecodeError, TypeError):
            pass
    if row["brand"]:
        parts.append(f"Brand: {_clean(row['brand'], 60)}")
    return "\n".join(parts)


def taxonomy_prompt_text(tree: list[dict]) -> str:
    return "\n".join(f"- {c['name']}: {', '.join(s['name'] for s in c['subcategories'])}" for c in tree)


# -- validation -----------------------------------------------------------------------------------


_VALIDATORS: dict[str, Any] = {}


def _validator(schema: dict):
    """A compiled validator per schema (answers of one run share a handful of schemas)."""
    key = schema_hash(schema)
    v = _VALIDATORS.get(key)
    if v is None:
        from jsonschema import Draft202012Validator

        if len(_VALIDATORS) > 64:
            _VALIDATORS.clear()
        v = _VALIDATORS[key] = Draft202012Validator(schema)
    return v


def _dedupe_labels(obj: Any) -> Any:
    """Drop repeated subcategories inside a category (grammar engines do not enforce `uniqueItems`,
    and a small model repeats itself); anything else is left for the schema check to judge."""
    if isinstance(obj, dict) and isinstance(obj.get("labels"), dict):
        labels = {c: list(dict.fromkeys(v)) if isinstance(v, list) and all(isinstance(x, str) for x in v) else v
                  for c, v in obj["labels"].items()}  # fmt: skip
        obj = {**obj, "labels": labels}
    return obj


def _fast_valid(obj: Any, schema: dict) -> bool:
    """True only when `obj` meets every keyword `annotation_schema` puts into the bundled schema
    shape; anything else (False) is judged, with a message, by jsonschema."""
    if not isinstance(obj, dict) or set(obj) != {"labels", "description"}:
        return False
    labels, desc = obj["labels"], obj["description"]
    dspec = schema["properties"]["description"]
    if not isinstance(desc, str) or not dspec.get("minLength", 0) <= len(desc) <= dspec.get(
        "maxLength", len(desc)
    ):
        return False
    lspec = schema["properties"]["labels"]
    if (
        not isinstance(labels, dict)
        or set(labels) != set(lspec["required"])
        or set(labels) - set(lspec["properties"])
    ):
        return False
    for cat, subs in labels.items():
        spec = lspec["properties"][cat]
        if not isinstance(subs, list) or not spec["minItems"] <= len(subs) <= spec["maxItems"]:
            return False
        if len(set(map(str, subs))) != len(subs):
            return False
        enum = spec["items"]["enum"]
        if not all(isinstance(x, str) and x in enum for x in subs):
            return False
    return True


def check_answer(text: str, schema: dict, label_ids: dict[tuple[str, str], int],
                 finish_reason: str | None = None, fast: bool = False) -> tuple[dict | None, str]:  # fmt: skip
    """(parsed answer, "") when `text` is a valid annotation, else (None, reason for the retry prompt).

    Beyond the JSON schema, every (category, subcategory) must exist in `label_ids`: the last
    line of defence that makes a label outside the taxonomy impossible to store. `fast=True` (only
    for schemas built by `annotation_schema` from the bundled base schema) checks a conforming
    answer without jsonschema, which costs milliseconds per answer.
    """
    from jsonschema.exceptions import best_match

    if not text or not text.strip():
        return None, "the answer was empty"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        cut = " (it was cut off: answer shorter)" if finish_reason == "length" else ""
        return None, f"the answer is not valid JSON ({exc.msg} at char {exc.pos}){cut}"
    obj = _dedupe_labels(obj)
    err = None if fast and _fast_valid(obj, schema) else best_match(_validator(schema).iter_errors(obj))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "top level"
        return None, f"{where}: {err.message[:200]}"
    for cat, subs in obj["labels"].items():
        for s in subs:
            if (cat, s) not in label_ids:
                return None, f"labels/{cat}: {s!r} is not a subcategory of {cat!r}"
    desc = " ".join(obj["description"].split())
    if not desc:
        return None, "description: must not be blank"
    return {"labels": {c: list(dict.fromkeys(v)) for c, v in obj["labels"].items()}, "description": desc}, ""


def prepare_annotation(store: Store, dataset_id: int, config: AnnotateConfig) -> None:
    """Validate the job (settings, the domain, the taxonomy version) before any model is loaded."""
    from semacdr_cli.store.semantic import get_taxonomy

    config.validate()
    store.domain(dataset_id, config.domain)
    get_taxonomy(store, dataset_id, config.taxonomy_version)


def earlier_threads(store: Store, dataset_id: int, config: AnnotateConfig) -> set[int]:
    """The LLM threads recorded on the domain's LLM-labelled items of the job's taxonomy so far."""
    from semacdr_cli.store import semantic as sem

    tax = sem.get_taxonomy(store, dataset_id, config.taxonomy_version)
    rows = sem.domain_annotations(store, store.domain(dataset_id, config.domain)["id"], tax["id"])
    found = ((sem.loads(r["sampling"]) or {}).get("threads") for r in rows if r["method"] != "distilled")
    return {t for t in found if isinstance(t, int)}


def annotate_domain(store: Store, dataset_id: int, backend: Backend, config: AnnotateConfig,
                    progress: Progress | None = None) -> AnnotateSummary:  # fmt: skip
    """Annotate the items of `config.domain` against a taxonomy version; resumable and idempotent
    (the job is prepared, i.e. validated, first)."""
    prepare_annotation(store, dataset_id, config)
    t0 = time.perf_counter()
    earlier = earlier_threads(store, dataset_id, config)
    if config.method == "score":
        from semacdr_cli.annotate_jobs import run_scored

        s = run_scored(store, dataset_id, backend, config, progress)
    else:
        from semacdr_cli.annotate_generate import _Annotator

        job = _Annotator(store, dataset_id, backend, config)
        job.annotate(progress)
        job.filter_outliers(progress)
        s = job.summary
    from semacdr_cli.label_stats import degenerate_categories

    s.guard = degenerate_categories(store, dataset_id, config.domain, config.taxonomy_version)
    if s.threads is not None and s.done + s.failed and earlier - {s.threads}:
        s.warnings.append(
            f"{config.domain}: earlier items of this taxonomy were labelled with {'/'.join(map(str, sorted(earlier)))}"
            f" LLM thread(s), this run's with {s.threads}; under bf16 the answers depend on the threads, so set"
            " $SEMACDR_THREADS to continue a domain as it began (docs/llm.md)"
        )
    s.seconds = round(time.perf_counter() - t0, 3)
    new = s.done + s.failed + s.distilled
    s.items_per_s = round(new / s.seconds, 3) if s.seconds > 0 else 0.0
    s.output_tokens_per_s = round(s.tokens_out / s.seconds, 2) if s.seconds > 0 else 0.0
    return s
