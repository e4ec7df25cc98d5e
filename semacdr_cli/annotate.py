"""Item annotation: taxonomy labels and an enriched description per item, validated and resumable.

`annotate_domain(store, dataset_id, backend, config)`:

1. builds the output JSON schema from the taxonomy (`annotation_schema`): one property per
   category holding 1..3 subcategories from an enum of that category's subcategories, and a
   bounded `description`; the backend decodes constrained to it;
2. for each batch of items still to do, generates (or reads from `llm_cache`), parses and validates
   every answer (`check_answer`: JSON, schema, then every label mapped to a
   taxonomy_subcategories id, so a label outside the taxonomy can never be stored); a
   non-conforming answer is re-generated up to `retries` times with the validation error in the
   prompt; items that still fail are stored with status "failed" and the reason;
3. commits each batch in one transaction (raw LLM answers are committed to `llm_cache` right after
   each backend call), so a killed run loses at most the batch in flight and a re-run skips every
   committed item: no lost and no duplicated rows;
4. runs the term-frequency outlier filter (`outliers.py`) over the domain and records the outcome.
"""

from __future__ import annotations

import copy
import html
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from semacdr_cli import outliers as ol
from semacdr_cli.config import AnnotateConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend, Constraint, SamplingConfig
from semacdr_cli.prompting import (
    Template,
    canonical_json,
    load_schema,
    load_template,
    schema_hash,
    sha256_text,
)
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class AnnotateSummary:
    domain: str
    taxonomy_version: int
    model: str
    backend: str
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
    if not isinstance(desc, str) or not dspec.get("minLength", 0) <= len(desc) <= dspec.get("maxLength", len(desc)):
        return False
    lspec = schema["properties"]["labels"]
    if not isinstance(labels, dict) or set(labels) != set(lspec["required"]) or set(labels) - set(lspec["properties"]):
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


# -- the job --------------------------------------------------------------------------------------


@dataclass
class _Work:
    """One item in flight: its prompt inputs and what its attempts produced."""

    row: Any
    text: str
    feedback: str = ""
    attempts: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    first_key: str | None = None
    result: dict | None = None
    error: str = ""
    outliers: dict = field(default_factory=dict)


class _Annotator:
    def __init__(self, store: Store, dataset_id: int, backend: Backend, config: AnnotateConfig):
        self.store, self.backend, self.cfg = store, backend, config
        self.domain = store.domain(dataset_id, config.domain)
        self.taxonomy = sem.get_taxonomy(store, dataset_id, config.taxonomy_version)
        self.tree = sem.taxonomy_tree(store, self.taxonomy["id"])
        if not self.tree:
            raise SemacdrError(f"taxonomy version {self.taxonomy['version']} has no categories")
        self.label_ids = {(c["name"], s["name"]): s["id"] for c in self.tree for s in c["subcategories"]}
        self.template: Template = load_template("annotate", config.prompts_dir)
        self.base_schema = load_schema("annotate", config.prompts_dir)
        self.schema = self._schema()
        self.schema_hash = schema_hash(self.schema)
        bundled = load_schema("annotate")
        self.fast = canonical_json(self.base_schema) == canonical_json(bundled)  # user schemas: jsonschema only
        self.sampling: SamplingConfig = config.sampling
        self.sampling_dict = config.sampling.as_dict()
        self.summary = AnnotateSummary(
            domain=config.domain,
            taxonomy_version=self.taxonomy["version"],
            model=backend.model,
            backend=backend.name,
        )

    def _schema(self, exclude: dict[str, set[str]] | None = None) -> dict:
        return annotation_schema(
            self.base_schema,
            self.tree,
            max_labels=self.cfg.max_labels_per_category,
            max_description_chars=self.cfg.max_description_chars,
            exclude=exclude,
        )

    def chat(self, w: _Work) -> list[dict]:
        return self.template.render(
            domain=self.cfg.domain,
            item=w.text,
            taxonomy=taxonomy_prompt_text(self.tree),
            max_description_chars=self.cfg.max_description_chars,
            feedback=w.feedback,
        )

    def key(self, w: _Work, schema_h: str) -> str:
        return sha256_text(
            canonical_json(
                {
                    "text": w.text,
                    "prompt": self.template.hash,
                    "schema": schema_h,
                    "model": self.backend.model,
                    "taxonomy": [self.taxonomy["dataset_id"], self.taxonomy["version"], self.taxonomy["id"]],
                    "sampling": self.sampling_dict,
                    "feedback": w.feedback,
                }
            )
        )

    def generate(self, works: list[_Work], schema: dict) -> list[tuple[str, str | None]]:
        """(text, finish_reason) per work item: from the cache, else from the backend (then cached)."""
        sh = schema_hash(schema)
        keys = [self.key(w, sh) for w in works]
        for w, k in zip(works, keys, strict=True):
            w.first_key = w.first_key or k
        hits = sem.cache_get(self.store, keys)
        out: list[tuple[str, str | None] | None] = [None] * len(works)
        for i, k in enumerate(keys):
            if k in hits:
                h = hits[k]
                out[i] = (h["output"], None)
                works[i].tokens_in += h["tokens_in"] or 0
                works[i].tokens_out += h["tokens_out"] or 0
                self.summary.cached += 1
        todo = [i for i, o in enumerate(out) if o is None]
        if todo:
            t0 = time.perf_counter()
            gens = self.backend.generate([self.chat(works[i]) for i in todo], Constraint(json_schema=schema), self.sampling)
            if len(gens) != len(todo):
                raise SemacdrError(f"backend {self.backend.name} returned {len(gens)} answers for {len(todo)} prompts")
            share = (time.perf_counter() - t0) / len(todo)
            with self.store.transaction() as conn:
                for i, g in zip(todo, gens, strict=True):
                    sem.cache_put(conn, keys[i], g.text, g.tokens_in, g.tokens_out)
            for i, g in zip(todo, gens, strict=True):
                out[i] = (g.text, g.finish_reason)
                works[i].tokens_in += g.tokens_in
                works[i].tokens_out += g.tokens_out
                works[i].seconds += share
                self.summary.tokens_in += g.tokens_in
                self.summary.tokens_out += g.tokens_out
        for w in works:
            w.attempts += 1
        return out  # type: ignore[return-value]

    def run_with_retries(self, works: list[_Work], schema: dict, label_ids: dict) -> None:
        pending = list(works)
        for attempt in range(self.cfg.retries + 1):
            if not pending:
                break
            answers = self.generate(pending, schema)
            still = []
            for w, (text, finish) in zip(pending, answers, strict=True):
                result, reason = check_answer(text, schema, label_ids, finish, fast=self.fast)
                if result is not None:
                    w.result, w.error = result, ""
                else:
                    w.error = reason
                    w.feedback = (
                        f"Your previous answer was rejected: {reason}. Answer again with valid JSON that "
                        "uses only the allowed subcategories."
                    )
                    still.append(w)
            pending = still

    def row(self, w: _Work) -> dict[str, Any]:
        ok = w.result is not None
        return {
            "item_id": w.row["id"],
            "taxonomy_id": self.taxonomy["id"],
            "status": "ok" if ok else "failed",
            "description": w.result["description"] if ok else None,
            "labels": w.result["labels"] if ok else None,
            "failure_reason": None if ok else f"after {w.attempts} attempts: {w.error}",
            "attempts": w.attempts,
            "outliers": w.outliers or None,
            "model": self.backend.model,
            "backend": self.backend.name,
            "prompt_hash": self.template.hash,
            "schema_hash": self.schema_hash,
            "sampling": {**self.sampling.as_dict(), "retries": self.cfg.retries},
            "tokens_in": w.tokens_in,
            "tokens_out": w.tokens_out,
            "seconds": round(w.seconds, 4),
            "cache_key": w.first_key,
        }

    # -- phase 1: annotate --------------------------------------------------------------------------
    def annotate(self, progress: Progress | None) -> None:
        todo, done_before = sem.items_to_annotate(
            self.store, self.domain["id"], self.taxonomy["id"], self.cfg.limit, self.cfg.retry_failed,
            order=self.cfg.order,
        )
        self.summary.in_scope = len(todo) + done_before
        self.summary.skipped = done_before
        bs = max(1, self.cfg.batch_size)
        for start in range(0, len(todo), bs):
            works = [_Work(row=r, text=item_text(r)) for r in todo[start : start + bs]]
            self.run_with_retries(works, self.schema, self.label_ids)
            with self.store.transaction() as conn:
                for w in works:
                    ids = [self.label_ids[(c, s)] for c, subs in (w.result or {}).get("labels", {}).items() for s in subs]
                    sem.upsert_annotation(conn, self.row(w), ids)
            for w in works:
                self.summary.done += w.result is not None
                self.summary.failed += w.result is None
                self.summary.retried += w.attempts > 1
            if progress:
                progress("annotate", min(start + bs, len(todo)), len(todo))

    # -- phase 2: the outlier filter ------------------------------------------------------------------
    def filter_outliers(self, progress: Progress | None) -> None:
        cfg = self.cfg.outliers
        rows = sem.domain_annotations(self.store, self.domain["id"], self.taxonomy["id"])
        unchecked = [r for r in rows if not (sem.loads(r["outliers"]) or {}).get("checked")]
        if not unchecked:
            self.summary.outlier_check = "nothing new to check"
            return
        if not cfg.enabled or len(rows) < cfg.min_items:
            why = "disabled" if not cfg.enabled else f"only {len(rows)} annotated items (< --outlier-min-items {cfg.min_items})"
            with self.store.transaction() as conn:
                for r in unchecked:
                    if r["outliers"] is None:
                        conn.execute(
                            "UPDATE annotations SET outliers = ? WHERE id = ?",
                            (json.dumps({"checked": False, "reason": why}), r["id"]),
                        )
            self.summary.outlier_check = f"skipped: {why}"
            return
        stats = ol.domain_stats(((sem.loads(r["labels"]) or {}, r["description"]) for r in rows), cfg)
        plan = []
        for r in unchecked:
            labels = sem.loads(r["labels"]) or {}
            text = f"{r['item_title'] or ''} {r['item_description'] or ''}"
            plan.append((r, labels, ol.judge(labels, r["description"], text, stats, cfg)))
        bs = max(1, self.cfg.batch_size)
        for start in range(0, len(plan), bs):
            chunk = plan[start : start + bs]
            updates = [self._settle(r, labels, v, stats) for r, labels, v in chunk]
            with self.store.transaction() as conn:
                for (r, _, _), (labels, desc, record, extra) in zip(chunk, updates, strict=True):
                    ids = [self.label_ids[(c, s)] for c, subs in labels.items() for s in subs]
                    sem.update_filtered_annotation(
                        conn, r["id"], labels=labels, description=desc, outliers=record, subcategory_ids=ids, extra=extra
                    )
            if progress:
                progress("outlier filter", min(start + bs, len(plan)), len(plan))
        self.summary.outlier_check = (
            f"checked {len(plan)} items against {stats.n} (label threshold {stats.label_threshold} items)"
        )

    def _settle(self, r, labels: dict, v: ol.Verdict, stats: ol.DomainStats):
        """(labels, description, outliers record, extra provenance columns) for one annotation."""
        record: dict[str, Any] = {
            "checked": True,
            "rule": {"label_threshold": stats.label_threshold, "n_items": stats.n, **self.cfg.outliers.as_dict()},
            "rare_labels": [list(x) for x in v.rare_labels],
            "rare_terms": v.rare_terms,
            "rare_term_share": v.rare_term_share,
            "action": "none",
        }
        if not v.affected:
            return labels, r["description"], record, None
        self.summary.filtered += 1
        new_labels, desc, extra = v.keep_labels, r["description"], None
        record["dropped_labels"] = [list(x) for x in v.dropped_labels]
        actions = ["dropped-labels"] if v.dropped_labels else []
        if v.needs_regeneration:
            exclude = {c: {s for cc, s in v.rare_labels if cc == c} for c in v.stuck_categories}
            schema = self._schema(exclude)
            item = sem.items_by_ids(self.store, [r["item_id"]])[0]
            w = _Work(row=item, text=item_text(item))
            notes = []
            if v.stuck_categories:
                notes.append(
                    "do not use these rarely fitting subcategories: "
                    + ", ".join(f"{c}/{s}" for c, s in v.rare_labels if c in v.stuck_categories)
                )
            if v.description_outlier:
                notes.append("the previous description used words unrelated to the item; describe only this item")
            w.feedback = "Your previous answer was filtered as an outlier: " + "; ".join(notes) + "."
            self.run_with_retries([w], schema, self.label_ids)
            self.summary.regenerated += 1
            record["regenerated"] = True
            if w.result is None:
                record["regeneration_failed"] = w.error
                actions.append("kept-rare-labels" if v.stuck_categories else "")
                if v.description_outlier:
                    desc = None
                    actions.append("dropped-description")
            else:
                for c in v.stuck_categories:
                    new_labels[c] = w.result["labels"][c]
                if v.stuck_categories:
                    actions.append("regenerated-labels")
                if v.description_outlier:
                    text = f"{r['item_title'] or ''} {r['item_description'] or ''}"
                    _rare, share, still = ol.description_verdict(w.result["description"], text, stats, self.cfg.outliers)
                    if still:
                        desc = None
                        actions.append("dropped-description")
                    else:
                        desc = w.result["description"]
                        actions.append("regenerated-description")
                    record["regenerated_rare_term_share"] = share
            extra = {
                "tokens_in": (r["tokens_in"] or 0) + w.tokens_in,
                "tokens_out": (r["tokens_out"] or 0) + w.tokens_out,
                "attempts": (r["attempts"] or 1) + w.attempts,
                "seconds": round((r["seconds"] or 0) + w.seconds, 4),
            }
        elif v.description_outlier:
            desc = None
            actions.append("dropped-description")
        record["action"] = "+".join(a for a in actions if a) or "none"
        return new_labels, desc, record, extra


def annotate_domain(store: Store, dataset_id: int, backend: Backend, config: AnnotateConfig,
                    progress: Progress | None = None) -> AnnotateSummary:  # fmt: skip
    """Annotate the items of `config.domain` against a taxonomy version; resumable and idempotent."""
    config.validate()
    t0 = time.perf_counter()
    if config.method == "score":
        from semacdr_cli.annotate_jobs import run_scored

        s = run_scored(store, dataset_id, backend, config, progress)
    else:
        job = _Annotator(store, dataset_id, backend, config)
        job.annotate(progress)
        job.filter_outliers(progress)
        s = job.summary
    from semacdr_cli.label_stats import degenerate_categories

    s.guard = degenerate_categories(store, dataset_id, config.domain, config.taxonomy_version)
    s.seconds = round(time.perf_counter() - t0, 3)
    new = s.done + s.failed
    s.items_per_s = round(new / s.seconds, 3) if s.seconds > 0 else 0.0
    s.output_tokens_per_s = round(s.tokens_out / s.seconds, 2) if s.seconds > 0 else 0.0
    return s
