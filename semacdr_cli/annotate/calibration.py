"""Calibrated option probabilities and the label rule of the scoring method (no I/O, no model).

Contextual calibration (Zhao et al., 2021): an option's log-probability for an item minus its
log-probability for a content-free item ("N/A") removes what the model would say for any item,
its prior for an option's wording and for the option's place in the listed taxonomy, so neither
the prior nor the position picks the label. A softmax over a category's calibrated scores gives
one probability per subcategory. An item gets the subcategories whose probability reaches
`threshold`, most probable first, at most `max_labels`; none when nothing reaches it.
"""

from __future__ import annotations

import math


def softmax(xs: list[float]) -> list[float]:
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    z = sum(e)
    return [v / z for v in e]


def calibrate(raw: list[list[float]], null: list[list[float]] | None) -> list[list[float]]:
    """Per question, probabilities over its options from raw log-probabilities (minus the
    content-free item's when `null` is given)."""
    out = []
    for q, scores in enumerate(raw):
        base = null[q] if null is not None else [0.0] * len(scores)
        out.append(softmax([s - b for s, b in zip(scores, base, strict=True)]))
    return out


def pick_labels(
    probs: list[float], names: list[str], threshold: float, max_labels: int
) -> list[tuple[str, float]]:
    """(name, probability) of the options at or above `threshold`, most probable first, at most
    `max_labels`; ties keep the listed order."""
    ranked = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    return [(names[i], probs[i]) for i in ranked[:max_labels] if probs[i] >= threshold]
