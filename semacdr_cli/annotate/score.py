"""Labels by calibrated scoring and short descriptions (`annotate --method score`, the default).

For every item the LLM scores each category's subcategories (prefill only, `ScoringBackend.score`)
after a prompt that starts with the instructions and the taxonomy (a prefix shared by every item,
computed once) and ends with the item. Scores are calibrated against a content-free item and
turned into labels by `calibration.pick_labels`; every label's probability is stored, and the full
distribution per category. Descriptions (the inner-domain view, §2.3.1) are a separate short
plain-text request (`describe`), checked by `text_checks`; a garbage one is asked again once with
feedback, in one batch, then dropped with its reason. A backend failure on a chunk is retried item
by item, so one bad prompt stores that item as failed and keeps the others.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from semacdr_cli.annotate import calibration, text_checks
from semacdr_cli.config import AnnotateConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend, Question, SamplingConfig
from semacdr_cli.prompting import canonical_json, load_template, sha256_text
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem

NULL_ITEM = "Title: N/A"  # the content-free item of contextual calibration
CALIBRATION_ITEMS = 64  # domain-context calibration: items whose mean score is each option's baseline
Progress = Callable[[str, int, int], None]


def questions_for(tree: list[dict]) -> list[Question]:
    return [Question(f"{c['name']}:", tuple(f" {s['name']}" for s in c["subcategories"])) for c in tree]


def _isolated(fn: Callable[[list], list], items: list) -> list:
    """fn(items), or, when the chunk fails, fn([item]) per item; a failing item yields its exception."""
    try:
        out = fn(items)
        if len(out) != len(items):
            raise SemacdrError(f"the backend returned {len(out)} answers for {len(items)} prompts")
        return out
    except (SemacdrError, RuntimeError, ValueError, OSError) as exc:
        if len(items) == 1:
            return [exc]
    out = []
    for it in items:
        try:
            out += fn([it])
        except (SemacdrError, RuntimeError, ValueError, OSError) as exc:
            out.append(exc)
    return out


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text.splitlines()[0][:200]}"


class ScoreLabeler:
    """Scores labels (and writes descriptions) for a list of item rows; stores them in chunks."""

    def __init__(self, store: Store, taxonomy, tree: list[dict], backend: Backend, config: AnnotateConfig, summary,
                 domain_id: int | None = None):  # fmt: skip
        if not hasattr(backend, "score"):
            raise SemacdrError(
                f"backend {backend.name} cannot score options; use --method generate (constrained JSON) "
                "or --backend transformers / vllm"
            )
        self.store, self.taxonomy, self.tree, self.backend, self.cfg, self.summary = (
            store, taxonomy, tree, backend, config, summary)  # fmt: skip
        self.domain_id = domain_id
        self.label_ids = {(c["name"], s["name"]): s["id"] for c in tree for s in c["subcategories"]}
        self.template = load_template("annotate_score", config.prompts_dir)
        self.describe_t = load_template("describe", config.prompts_dir)
        self.questions = questions_for(tree)
        self.taxonomy_text = "\n".join(f"- {c['name']}: {', '.join(s['name'] for s in c['subcategories'])}"
                                       for c in tree)  # fmt: skip
        self.describe_sampling = SamplingConfig(max_tokens=config.description_tokens, seed=config.sampling.seed,
                                                stop=("\n",))  # fmt: skip
        self.prompt_hash = sha256_text(self.template.hash + (self.describe_t.hash if config.describe else ""))
        self.null: list[list[float]] | None = None
        self.reasons: Counter = Counter()
        self.tokens: dict[str, list[int]] = {}  # item text -> [tokens in, tokens out] of this run's requests

    def chat(self, item: str) -> list[dict]:
        return self.template.render(domain=self.cfg.domain, taxonomy=self.taxonomy_text, item=item)

    def _key(self, item: str, kind: str, extra: str = "") -> str:
        return sha256_text(canonical_json({
            "kind": kind, "text": item, "prompt": self.template.hash if kind == "score" else self.describe_t.hash,
            "model": self.backend.model, "taxonomy": self.taxonomy["id"], "questions": [q.cue for q in self.questions],
            "options": [list(q.options) for q in self.questions], "extra": extra,
            "sampling": self.describe_sampling.as_dict() if kind == "describe" else None,
        }))  # fmt: skip

    def _count(self, text: str, tokens_in: int, tokens_out: int = 0) -> None:
        """Add to an item's token record (what its requests cost, cached or not)."""
        tk = self.tokens.setdefault(text, [0, 0])
        tk[0], tk[1] = tk[0] + tokens_in, tk[1] + tokens_out

    # -- scores ---------------------------------------------------------------------------------
    def _scores(self, texts: list[str]) -> list[Any]:
        """Per text: raw log-probabilities [question][option] (cached), or the exception it raised."""
        keys = [self._key(t, "score") for t in texts]
        hits = sem.cache_get(self.store, keys)
        out: list[Any] = [json.loads(hits[k]["output"]) if k in hits else None for k in keys]
        for t, k in zip(texts, keys, strict=True):
            if k in hits:
                self._count(t, hits[k]["tokens_in"] or 0)
        self.summary.cached += sum(o is not None for o in out)
        todo = [i for i, o in enumerate(out) if o is None]
        if todo:
            t0 = time.perf_counter()
            res = _isolated(
                lambda idx: self.backend.score([self.chat(texts[i]) for i in idx], self.questions), todo
            )
            self.summary.score_seconds += time.perf_counter() - t0
            self.summary.scored += sum(not isinstance(r, BaseException) for r in res)
            with self.store.transaction() as conn:
                for i, r in zip(todo, res, strict=True):
                    if isinstance(r, BaseException):
                        out[i] = r
                        continue
                    out[i] = r.logprobs
                    sem.cache_put(conn, keys[i], json.dumps(r.logprobs), r.tokens_in, 0)
                    self.summary.tokens_in += r.tokens_in
                    self._count(texts[i], r.tokens_in)
        return out

    def null_scores(self) -> list[list[float]]:
        """The calibration baseline per option: the mean raw score over a seeded sample of the
        domain's items (`domain`), or the content-free item's scores (`content-free`)."""
        if self.null is None:
            texts = [NULL_ITEM]
            if self.cfg.calibration == "domain" and self.domain_id is not None:
                from semacdr_cli.annotate.item_text import item_text

                ids = sem.domain_item_ids(self.store, self.domain_id)
                pick = sorted(
                    random.Random(self.cfg.sampling.seed).sample(ids, min(CALIBRATION_ITEMS, len(ids)))
                )
                texts = [item_text(r) for r in sem.items_by_ids(self.store, pick)] or texts
            res = [r for r in self._scores(texts) if not isinstance(r, BaseException)]
            if not res:
                raise SemacdrError("cannot score the calibration items (every request failed)")
            self.null = [[sum(r[q][o] for r in res) / len(res) for o in range(len(res[0][q]))]
                         for q in range(len(res[0]))]  # fmt: skip
        return self.null

    def labels_from(self, raw: list[list[float]]) -> tuple[dict[str, list[str]], dict[str, dict[str, float]]]:
        probs = calibration.calibrate(raw, self.null_scores() if self.cfg.calibration != "none" else None)
        labels, dist = {}, {}
        for cat, p in zip(self.tree, probs, strict=True):
            names = [s["name"] for s in cat["subcategories"]]
            dist[cat["name"]] = {n: round(v, 4) for n, v in zip(names, p, strict=True)}
            picked = calibration.pick_labels(
                p, names, self.cfg.threshold(len(names)), self.cfg.max_labels_per_category
            )
            if picked:
                labels[cat["name"]] = [n for n, _ in picked]
        return labels, dist

    # -- descriptions ---------------------------------------------------------------------------
    def describe(self, texts: list[str]) -> list[tuple[str | None, str]]:
        """(description or None, problem) per text; garbage is asked again once, in one batch."""
        out: list[tuple[str | None, str]] = [(None, "")] * len(texts)
        pending = list(range(len(texts)))
        feedback = [""] * len(texts)
        for attempt in range(2):
            if not pending:
                break
            chats = [self.describe_t.render(domain=self.cfg.domain, item=texts[i], feedback=feedback[i])
                     for i in pending]  # fmt: skip
            keys = [self._key(texts[i], "describe", feedback[i]) for i in pending]
            hits = sem.cache_get(self.store, keys)
            miss = [n for n, k in enumerate(keys) if k not in hits]
            t0 = time.perf_counter()
            gens = _isolated(lambda ns, chats=chats: self.backend.generate([chats[n] for n in ns], None,
                                                                           self.describe_sampling),
                             miss) if miss else []  # fmt: skip
            self.summary.describe_seconds += time.perf_counter() - t0
            self.summary.describe_requests += sum(not isinstance(g, BaseException) for g in gens)
            got: dict[int, Any] = {n: hits[k]["output"] for n, k in enumerate(keys) if k in hits}
            for n, k in enumerate(keys):  # an item's tokens are the same whether its answer was cached
                if k in hits:
                    self._count(texts[pending[n]], hits[k]["tokens_in"] or 0, hits[k]["tokens_out"] or 0)
            with self.store.transaction() as conn:
                for n, g in zip(miss, gens, strict=True):
                    if isinstance(g, BaseException):
                        got[n] = g
                        continue
                    got[n] = g.text
                    sem.cache_put(conn, keys[n], g.text, g.tokens_in, g.tokens_out)
                    self.summary.tokens_in += g.tokens_in
                    self.summary.tokens_out += g.tokens_out
                    self._count(texts[pending[n]], g.tokens_in, g.tokens_out)
            still = []
            for n, i in enumerate(pending):
                g = got[n]
                if isinstance(g, BaseException):
                    out[i] = (None, f"description request failed: {_reason(g)}")
                    continue
                text = " ".join(g.split())[: self.cfg.max_description_chars]
                problem = text_checks.description_problem(text, texts[i])
                if problem and attempt == 0:
                    feedback[i] = (
                        f" Your previous description was rejected ({problem}); write one clear sentence."
                    )
                    still.append(i)
                out[i] = (None, problem) if problem else (text, "")
            pending = still
        return out

    # -- the job --------------------------------------------------------------------------------
    def run(self, rows: list, item_text: Callable, progress: Progress | None, phase: str = "label") -> None:
        if not rows:
            return
        if self.cfg.calibration != "none":
            self.null_scores()
        bs = max(1, self.cfg.batch_size)
        for start in range(0, len(rows), bs):
            chunk = rows[start : start + bs]
            t0 = time.perf_counter()
            texts = [item_text(r) for r in chunk]
            scores = self._scores(texts)
            descs = self.describe(texts) if self.cfg.describe else [(None, "")] * len(chunk)
            share = (time.perf_counter() - t0) / len(chunk)
            with self.store.transaction() as conn:
                for r, text, raw, (desc, problem) in zip(chunk, texts, scores, descs, strict=True):
                    tin, tout = self.tokens.pop(text, [0, 0])
                    self._store(conn, r, raw, desc, problem, share, tin, tout)
            if progress:
                progress(phase, min(start + bs, len(rows)), len(rows))

    def _store(
        self, conn, r, raw, desc, problem, seconds: float, tokens_in: int = 0, tokens_out: int = 0
    ) -> None:
        base = {
            "item_id": r["id"], "taxonomy_id": self.taxonomy["id"], "model": self.backend.model,
            "backend": self.backend.name, "prompt_hash": self.prompt_hash, "schema_hash": "score",
            "sampling": {"method": "score", "calibration": self.cfg.calibration, "threshold": self.cfg.label_threshold,
                         "max_labels": self.cfg.max_labels_per_category,
                         "describe": self.describe_sampling.as_dict() if self.cfg.describe else None,
                         "threads": self.summary.threads},
            "attempts": 1, "seconds": round(seconds, 4), "method": "score", "tokens_in": tokens_in,
            "tokens_out": tokens_out,
        }  # fmt: skip
        if isinstance(raw, BaseException):
            reason = _reason(raw)
            self.reasons[reason.split(":")[0]] += 1
            self.summary.failed += 1
            sem.upsert_annotation(conn, {**base, "status": "failed", "failure_reason": reason}, [])
            return
        labels, dist = self.labels_from(raw)
        ids, probs = [], []
        for cat, subs in labels.items():
            for s in subs:
                ids.append(self.label_ids[(cat, s)])
                probs.append(dist[cat][s])
        outliers = {"checked": True, "description_problem": problem} if problem else None
        if problem:
            self.summary.filtered += 1
            self.reasons[f"description: {problem}"] += 1
        self.summary.done += 1
        self.summary.labels += len(ids)
        self.summary.described += desc is not None
        sem.upsert_annotation(conn, {**base, "status": "ok", "labels": labels, "label_probs": dist,
                                     "description": desc, "outliers": outliers}, ids, probs)  # fmt: skip

    def drop_boilerplate(self, domain_id: int) -> int:
        """Descriptions of the domain that are mostly phrases shared by most others: dropped."""
        rows = [r for r in sem.domain_annotations(self.store, domain_id, self.taxonomy["id"])
                if r["method"] == "score"]  # fmt: skip
        bad = text_checks.boilerplate([r["description"] for r in rows], min_items=self.cfg.outliers.min_items)
        with self.store.transaction() as conn:
            for i in bad:
                r = rows[i]
                sem.set_description(
                    conn, r["id"], None, {"checked": True, "description_problem": "boilerplate"}
                )
        return len(bad)
