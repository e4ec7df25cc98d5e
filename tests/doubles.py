"""A deterministic fake LLM backend for tests only (the product never uses it).

`FakeBackend` answers each prompt, in order of precedence, from
1. `script`: {marker substring of the last message: [answer, answer, ...]} - each matching prompt
   consumes the next answer (the last one repeats); an answer may be a callable(chat, constraint);
2. `responder(chat, constraint)` when it returns a string;
3. a schema-conforming default (`default_answer`): for an annotation schema, labels picked by a
   hash of the item's title and a description made of the title's words; for a taxonomy schema,
   minItems categories with 3+ subcategories.
It records every call in `calls` and can sleep `delay` seconds per generate call.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable

from semacdr_cli.llm.base import Constraint, Generation

FAKE_CATEGORIES = ["Audience", "Occasion", "Style", "Price Level", "Usage", "Quality", "Origin", "Mood", "Season",
                   "Skill", "Texture", "Color"]  # fmt: skip
FAKE_SUBS = ["Basic", "Standard", "Advanced", "Premium", "Compact"]


def title_of(chat: list[dict]) -> str:
    m = re.search(r"^Title: (.*)$", chat[-1]["content"], re.MULTILINE)
    return m.group(1).strip() if m else ""


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def default_answer(chat: list[dict], constraint: Constraint | None) -> str:
    schema = (constraint.json_schema if constraint else None) or {}
    props = schema.get("properties", {})
    if "labels" in props:
        title = title_of(chat)
        labels = {}
        for n, (cat, spec) in enumerate(props["labels"]["properties"].items()):
            enum = spec["items"]["enum"]
            labels[cat] = [enum[(_h(title) + n) % len(enum)]]
        words = re.findall(r"[A-Za-z]{3,}", title) or ["item"]
        return json.dumps({"labels": labels, "description": ("A " + " ".join(words))[:200]})
    if "categories" in props:
        n = props["categories"].get("minItems", 5)
        cats = [
            {
                "name": FAKE_CATEGORIES[i % len(FAKE_CATEGORIES)],
                "subcategories": [f"{s} {i}" for s in FAKE_SUBS[:4]],
            }
            for i in range(n)  # each its own subcategories: an LLM's categories may not repeat each other
        ]
        return json.dumps({"categories": cats})
    if constraint and constraint.choices:
        return constraint.choices[0]
    return "ok"


class FakeBackend:
    name = "fake"

    def __init__(self, model: str = "fake-model", script: dict[str, list] | None = None,
                 responder: Callable | None = None, delay: float = 0.0):  # fmt: skip
        self.model = model
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.responder = responder
        self.delay = delay
        self.calls: list[tuple[list[dict], Constraint | None]] = []
        self.closed = False

    def _answer(self, chat: list[dict], constraint: Constraint | None) -> str:
        text = chat[-1]["content"]
        for marker, answers in self.script.items():
            if marker in text and answers:
                ans = answers.pop(0) if len(answers) > 1 else answers[0]
                return ans(chat, constraint) if callable(ans) else ans
        if self.responder is not None:
            out = self.responder(chat, constraint)
            if out is not None:
                return out
        return default_answer(chat, constraint)

    def generate(self, prompts, constraint=None, sampling=None):
        if self.delay:
            time.sleep(self.delay)
        out = []
        for chat in prompts:
            self.calls.append((chat, constraint))
            text = self._answer(chat, constraint)
            out.append(
                Generation(
                    text=text,
                    tokens_in=sum(len(m["content"].split()) for m in chat),
                    tokens_out=max(1, len(text) // 4),
                    finish_reason="stop",
                )
            )
        return out

    def close(self) -> None:
        self.closed = True


class FakeScoringBackend(FakeBackend):
    """A FakeBackend that also scores options: `scorer(chat, question_index, question) -> [logprob per
    option]` (default: a hash of the item title and the option, so labels vary with the item)."""

    def __init__(self, *args, scorer: Callable | None = None, fail_marker: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.scorer = scorer
        self.fail_marker = fail_marker
        self.score_calls: list[list[dict]] = []

    def score(self, prompts, questions):
        from semacdr_cli.llm.base import Scores

        out = []
        for chat in prompts:
            if self.fail_marker and self.fail_marker in chat[-1]["content"]:
                raise RuntimeError(f"prompt too long ({self.fail_marker})")
            self.score_calls.append(chat)
            title = title_of(chat)
            lp = []
            for qi, q in enumerate(questions):
                if self.scorer is not None:
                    lp.append(list(self.scorer(chat, qi, q)))
                else:
                    lp.append([-((_h(title + o) % 1000) / 100.0) for o in q.options])
            out.append(Scores(logprobs=lp, tokens_in=10))
        return out
