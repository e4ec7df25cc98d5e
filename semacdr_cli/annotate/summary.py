"""What an annotation job reports: ``AnnotateSummary`` (items, labels, tokens, timings, guard)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

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
    scored: int = 0  # texts the LLM scored in this run (items, calibration sample; not cached)
    score_seconds: float = 0.0  # time inside those scoring requests
    scored_per_s: float = 0.0  # the LLM's label-scoring rate, apart from distillation and the store
    describe_requests: int = 0  # description requests the LLM answered in this run (retries count)
    describe_seconds: float = 0.0  # time inside them
    described_per_s: float = 0.0
    distilled: int = 0  # items labelled by the distilled classifier
    distill_agreement: dict = field(default_factory=dict)  # held-out agreement with the LLM per category
    failures_by_reason: dict = field(default_factory=dict)
    guard: list = field(default_factory=list)  # degenerate categories found at the end (warnings)
    warnings: list = field(default_factory=list)  # e.g. a domain continued with other LLM threads

    def finish_llm_rates(self) -> None:
        """The LLM's own rates from the time inside its requests (then the times rounded)."""
        self.scored_per_s = round(self.scored / self.score_seconds, 3) if self.score_seconds > 0 else 0.0
        self.described_per_s = (
            round(self.describe_requests / self.describe_seconds, 3) if self.describe_seconds > 0 else 0.0
        )
        self.score_seconds, self.describe_seconds = (
            round(self.score_seconds, 3),
            round(self.describe_seconds, 3),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
