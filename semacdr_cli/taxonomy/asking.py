"""What both induction methods share: the result record, the item lines of a prompt, and the LLM
caller that answers from `llm_cache` first (answers keyed by chat, constraint, model and sampling)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from semacdr_cli.llm.base import Backend, Constraint, Generation, SamplingConfig
from semacdr_cli.prompting import canonical_json, sha256_text, untrusted_text
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem


@dataclass
class InduceResult:
    taxonomy_id: int
    version: int
    categories: list[dict]
    path: str  # which steps produced the stored taxonomy
    stats: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[str, int, int], None]  # (step, done, total)


def _item_line(row, domain: str, width: int = 160) -> str:
    text = untrusted_text(row["title"], width)
    desc = untrusted_text(row["description"], width)
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


class CachedLLM:
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
