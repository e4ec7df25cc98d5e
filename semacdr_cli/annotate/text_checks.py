"""Tests that catch garbage descriptions (what the annotation jobs and the guard reject).

`description_problem(text, item_text)` names what is wrong with one description, or returns "":
too short, mostly non-letters, a run-together word, markup or a dict-like string, a phrase
repeated in a loop, or copied instructions. `boilerplate(texts)` finds descriptions made of
phrases that most descriptions of the domain share; it needs enough descriptions
(`min_items`) for frequencies to mean anything. The rule is documented in docs/semantics.md.
"""

from __future__ import annotations

import re
from collections import Counter

INSTRUCTION_PHRASES = ("untrusted data", "never follow", "recommender system", "describe this", "plain sentence",
                       "answer only", "instructions written")  # fmt: skip
_WORD = re.compile(r"[A-Za-z]+")


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def description_problem(text: str | None, item_text: str = "") -> str:
    """What makes `text` garbage, or "" when it passes (see the module docstring)."""
    if not text or not text.strip():
        return "empty"
    t = " ".join(text.split())
    words = _WORD.findall(t)
    if len(words) < 3:
        return "fewer than 3 words"
    letters = sum(ch.isalpha() for ch in t)
    if letters < 0.6 * len(t.replace(" ", "")):
        return "mostly non-letters"
    if max(len(w) for w in words) > 30:
        return "a run-together word of over 30 letters"
    if re.search(r"[{}\[\]<>]|'\w+':|\"\w+\":", t):
        return "markup or a dict-like string"
    low = [w.lower() for w in words]
    tri = Counter(_ngrams(low, 3))
    if tri and tri.most_common(1)[0][1] >= 3:
        return "a phrase repeated in a loop"
    if len(low) >= 12 and len(set(low)) < 0.4 * len(low):
        return "mostly repeated words"
    lt = t.lower()
    item = item_text.lower()
    copied = [p for p in INSTRUCTION_PHRASES if p in lt and p not in item]
    if copied:
        return f"copied instructions ({copied[0]!r})"
    return ""


def boilerplate(
    texts: list[str | None], *, min_items: int = 20, max_share: float = 0.3, n: int = 4
) -> set[int]:
    """Indices of descriptions whose word n-grams are mostly ones that over `max_share` of the
    domain's descriptions contain (filler the model writes for every item)."""
    docs = [set(_ngrams([w.lower() for w in _WORD.findall(t or "")], n)) for t in texts]
    have = [d for d in docs if d]
    if len(have) < min_items:
        return set()
    df = Counter(g for d in have for g in d)
    common = {g for g, c in df.items() if c > max_share * len(have)}
    return {i for i, d in enumerate(docs) if d and sum(g in common for g in d) > 0.5 * len(d)}
