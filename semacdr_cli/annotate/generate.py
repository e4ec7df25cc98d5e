"""`annotate --method generate`: one constrained JSON answer per item (labels + description).

The backend decodes under the JSON schema of `annotation_schema`; every answer is checked
(`check_answer`), a non-conforming one is re-generated up to `retries` times with the validation
error in the prompt, items that still fail are stored as failed with the reason; each batch
commits in one transaction; then the term-frequency outlier filter (`outliers.py`, App. C) runs
over the domain. Kept for large models; the default is `--method score` (`annotate_score.py`).

Its answer contract lives here too: ``annotation_schema`` (the JSON schema an answer must meet)
and ``check_answer`` (parse, repair what is safe to repair, keep only taxonomy labels).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from semacdr_cli.annotate import outliers as ol
from semacdr_cli.annotate.answer import annotation_schema, check_answer
from semacdr_cli.annotate.item_text import item_text, taxonomy_prompt_text
from semacdr_cli.annotate.summary import AnnotateSummary, Progress
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
from semacdr_cli.retry import ask_until_valid, rejected
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem


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
        self.fast = canonical_json(self.base_schema) == canonical_json(
            bundled
        )  # user schemas: jsonschema only
        self.sampling: SamplingConfig = config.sampling
        self.sampling_dict = config.sampling.as_dict()
        self.summary = AnnotateSummary(
            domain=config.domain,
            taxonomy_version=self.taxonomy["version"],
            model=backend.model,
            backend=backend.name,
            threads=getattr(backend, "threads", None),
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
            gens = self.backend.generate(
                [self.chat(works[i]) for i in todo], Constraint(json_schema=schema), self.sampling
            )
            if len(gens) != len(todo):
                raise SemacdrError(
                    f"backend {self.backend.name} returned {len(gens)} answers for {len(todo)} prompts"
                )
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
        def ask(batch: list[_Work], feedbacks: list[str]) -> list:
            for w, fb in zip(batch, feedbacks, strict=True):
                if fb:  # a first try keeps the feedback it came with (an outlier regeneration's)
                    w.feedback = fb
            return self.generate(batch, schema)

        def check(_w: _Work, answer) -> tuple:
            text, finish = answer
            return check_answer(text, schema, label_ids, finish, fast=self.fast)

        def feedback(reason: str) -> str:
            return rejected(reason, "Answer again with valid JSON that uses only the allowed subcategories.")

        results, errors = ask_until_valid(works, ask, check, self.cfg.retries + 1, feedback)
        for w, result, errs in zip(works, results, errors, strict=True):
            w.result, w.error = result, ("" if result is not None else errs[-1])

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
            "sampling": {
                **self.sampling.as_dict(),
                "retries": self.cfg.retries,
                "threads": self.summary.threads,
            },
            "tokens_in": w.tokens_in,
            "tokens_out": w.tokens_out,
            "seconds": round(w.seconds, 4),
            "cache_key": w.first_key,
        }

    # -- phase 1: annotate --------------------------------------------------------------------------
    def annotate(self, progress: Progress | None) -> None:
        todo, done_before = sem.items_to_annotate(
            self.store,
            self.domain["id"],
            self.taxonomy["id"],
            self.cfg.limit,
            self.cfg.retry_failed,
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
                    ids = [
                        self.label_ids[(c, s)]
                        for c, subs in (w.result or {}).get("labels", {}).items()
                        for s in subs
                    ]
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
            why = (
                "disabled"
                if not cfg.enabled
                else f"only {len(rows)} annotated items (< --outlier-min-items {cfg.min_items})"
            )
            with self.store.transaction() as conn:
                for r in unchecked:
                    if r["outliers"] is None:
                        sem.set_outliers(conn, r["id"], {"checked": False, "reason": why})
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
                        conn,
                        r["id"],
                        labels=labels,
                        description=desc,
                        outliers=record,
                        subcategory_ids=ids,
                        extra=extra,
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
            "rule": {
                "label_threshold": stats.label_threshold,
                "n_items": stats.n,
                **self.cfg.outliers.as_dict(),
            },
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
                notes.append(
                    "the previous description used words unrelated to the item; describe only this item"
                )
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
                    _rare, share, still = ol.description_verdict(
                        w.result["description"], text, stats, self.cfg.outliers
                    )
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
