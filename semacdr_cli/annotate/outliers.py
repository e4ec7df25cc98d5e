"""The term-frequency outlier filter of App. C ("outliers are filtered via feature word frequency").

Pure statistics and decisions over one domain's annotations; `annotate.py` applies them (drops
parts or re-generates) and records the outcome in `annotations.outliers`. The rule
(docs/semantics.md):

- A LABEL (category, subcategory) is rare when fewer than
  ``max(min_label_count, ceil(min_label_share * n))`` of the domain's n annotated items carry it.
  A rare label is dropped from an item when the item keeps another label in that category;
  when it is the item's only label there, the item is re-generated without it.
- A DESCRIPTION TERM (a lower-case word of 3+ letters, not a stop word) is rare when it occurs in
  fewer than ``min_term_df`` of the domain's descriptions and not in the item's own title/text.
  A description whose distinct terms are rare in a share above ``max_rare_term_share`` (and that has
  at least 3 terms) is an outlier: the item is re-generated; if the new description is still an
  outlier, the description is dropped (the item keeps its labels, embed then uses title + raw text).
- Statistics over fewer than ``min_items`` annotated items mean nothing: the filter then records
  ``{"checked": false}`` and checks those items on a later run.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from semacdr_cli.config import OutlierConfig

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "item",
        "items",
        "product",
        "products",
        "use",
        "used",
        "using",
        "features",
        "feature",
        "made",
        "make",
        "makes",
        "ideal",
        "perfect",
        "great",
    ]
)
_WORD = re.compile(r"[a-z]{3,}")


def terms(text: str | None) -> set[str]:
    return {w for w in _WORD.findall((text or "").lower()) if w not in STOPWORDS}


@dataclass
class DomainStats:
    n: int
    label_counts: Counter
    term_df: Counter
    label_threshold: int

    def rare_labels(self, labels: dict[str, list[str]]) -> list[tuple[str, str]]:
        return [
            (c, s)
            for c, subs in labels.items()
            for s in subs
            if self.label_counts[(c, s)] < self.label_threshold
        ]


def domain_stats(annotations: Iterable[tuple[dict, str | None]], cfg: OutlierConfig) -> DomainStats:
    """Label counts and description-term document frequencies over (labels, description) pairs."""
    labels_c: Counter = Counter()
    df: Counter = Counter()
    n = 0
    for labels, desc in annotations:
        n += 1
        for c, subs in (labels or {}).items():
            for s in set(subs):
                labels_c[(c, s)] += 1
        df.update(terms(desc))
    threshold = max(cfg.min_label_count, math.ceil(cfg.min_label_share * n))
    return DomainStats(n=n, label_counts=labels_c, term_df=df, label_threshold=threshold)


@dataclass
class Verdict:
    """What the filter found for one annotation and what to do about it."""

    rare_labels: list[tuple[str, str]] = field(default_factory=list)
    keep_labels: dict[str, list[str]] = field(default_factory=dict)  # labels with droppable rare ones removed
    dropped_labels: list[tuple[str, str]] = field(default_factory=list)
    stuck_categories: list[str] = field(default_factory=list)  # every label rare: needs re-generation
    rare_terms: list[str] = field(default_factory=list)
    rare_term_share: float = 0.0
    description_outlier: bool = False

    @property
    def affected(self) -> bool:
        return bool(self.rare_labels or self.description_outlier)

    @property
    def needs_regeneration(self) -> bool:
        return bool(self.stuck_categories or self.description_outlier)


def judge(labels: dict[str, list[str]], description: str | None, item_text: str, stats: DomainStats,
          cfg: OutlierConfig) -> Verdict:  # fmt: skip
    v = Verdict()
    v.rare_labels = stats.rare_labels(labels)
    rare = set(v.rare_labels)
    for cat, subs in labels.items():
        kept = [s for s in subs if (cat, s) not in rare]
        if kept:
            v.keep_labels[cat] = kept
            v.dropped_labels += [(cat, s) for s in subs if (cat, s) in rare]
        else:
            v.keep_labels[cat] = list(subs)
            v.stuck_categories.append(cat)
    v.rare_terms, v.rare_term_share, v.description_outlier = description_verdict(
        description, item_text, stats, cfg
    )
    return v


def description_verdict(description: str | None, item_text: str, stats: DomainStats,
                        cfg: OutlierConfig) -> tuple[list[str], float, bool]:  # fmt: skip
    t = terms(description)
    grounded = terms(item_text)
    rare = sorted(w for w in t if stats.term_df[w] < cfg.min_term_df and w not in grounded)
    share = len(rare) / len(t) if t else 0.0
    return rare, round(share, 3), len(t) >= 3 and share > cfg.max_rare_term_share
