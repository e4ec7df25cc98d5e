"""The small interface every LLM backend implements.

A backend takes a batch of chat prompts plus an optional constraint (a JSON schema, or a list of
choices) and returns one `Generation` per prompt. Backends never touch the store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": "..."}
Chat = list[Message]


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling parameters; part of every cache key and of every row's provenance."""

    temperature: float = 0.0  # greedy by default: reproducible for the same batches (bf16 rounding)
    top_p: float = 1.0
    max_tokens: int = 256
    seed: int = 0
    # > 1 discourages tokens already in the prompt or output (CTRL-style, as transformers and vLLM
    # implement it): keeps a small model from looping on one label or one character until max_tokens
    repetition_penalty: float = 1.0
    # generation also stops at any of these strings (each a single token, e.g. "\n"); not part of
    # the output. Empty: stop at end-of-sequence only
    stop: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["repetition_penalty"] == 1.0:  # off: keys (and cache keys) as before the option existed
            del d["repetition_penalty"]
        if not d["stop"]:
            del d["stop"]
        else:
            d["stop"] = list(d["stop"])
        return d


@dataclass(frozen=True)
class Constraint:
    """What the output must conform to: a JSON schema (draft 2020-12) or one of `choices`."""

    json_schema: dict[str, Any] | None = None
    choices: list[str] | None = None


@dataclass
class Generation:
    text: str
    tokens_in: int
    tokens_out: int
    finish_reason: str | None = None  # "stop" | "length" | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Question:
    """One scored question: the answer starts with `cue` (e.g. "Genre:") and continues with one of
    `options` (e.g. [" Horror", " Romance"]); a scoring backend returns each option's log-probability."""

    cue: str
    options: tuple[str, ...]


@dataclass
class Scores:
    """Per prompt: `logprobs[q][o]` for question q, option o; tokens fed to the model for it."""

    logprobs: list[list[float]]
    tokens_in: int


@runtime_checkable
class Backend(Protocol):
    name: str  # "vllm" | "transformers" | "openai" (test doubles use their own)
    model: str  # what provenance records: a model folder, hub id or server model name

    def generate(
        self,
        prompts: list[Chat],
        constraint: Constraint | None = None,
        sampling: SamplingConfig = SamplingConfig(),
    ) -> list[Generation]:
        """One Generation per prompt, in order."""
        ...

    def close(self) -> None:
        """Free the engine (processes, memory)."""
        ...


@runtime_checkable
class ScoringBackend(Backend, Protocol):
    """A backend that can also score fixed options (prefill only, no generation): the cheap way to
    label. Each prompt is a chat whose assistant answer starts with a question's cue; options are
    scored by the log-probability of the tokens that tell them apart (see `llm/option_trie.py`)."""

    def score(self, prompts: list[Chat], questions: list[Question]) -> list[Scores]:
        """One Scores per prompt, in order; every prompt is asked every question."""
        ...
