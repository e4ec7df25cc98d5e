"""Turn a `Constraint` into an xgrammar grammar (the grammar engine vLLM uses), compiled once per
tokenizer and cached.

- a JSON schema compiles with `GrammarCompiler.compile_json_schema`, compact (no free whitespace:
  a small model given "any whitespace" can loop on newlines until max_tokens);
- a list of choices compiles to the EBNF `root ::= "a" | "b" | ...`, so the output is exactly one
  of the choices, with no quotes, as with vLLM's `choice=[...]`.
"""

from __future__ import annotations

import json
from typing import Any

from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Constraint

# JSON-schema keywords that grammar engines cannot enforce token by token (xgrammar reports
# "Unimplemented keys" and vLLM refuses the request). They are dropped from what the engine sees;
# the caller's own validation (jsonschema / the annotation checks) still applies them afterwards.
UNENFORCEABLE_KEYS = frozenset({"uniqueItems", "contains", "minContains", "maxContains"})


def grammar_schema(schema: Any) -> Any:
    """`schema` without the keywords in `UNENFORCEABLE_KEYS` (a copy; property names are kept)."""
    if isinstance(schema, list):
        return [grammar_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in UNENFORCEABLE_KEYS:
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(value, dict):
            out[key] = {name: grammar_schema(sub) for name, sub in value.items()}
        else:
            out[key] = grammar_schema(value)
    return out


def check_constraint(constraint: Constraint | None) -> None:
    """Reject a constraint that cannot be honoured (both kinds at once, empty choice list)."""
    if constraint is None:
        return
    if constraint.json_schema is not None and constraint.choices is not None:
        raise SemacdrError("a constraint is either a JSON schema or a list of choices, not both")
    if constraint.choices is not None and not (
        constraint.choices and all(isinstance(c, str) and c for c in constraint.choices)
    ):
        raise SemacdrError("constraint choices must be a non-empty list of non-empty strings")


def choice_ebnf(choices: list[str]) -> str:
    """EBNF whose language is exactly the given strings (JSON escaping is valid EBNF escaping)."""
    alternatives = " | ".join(json.dumps(c, ensure_ascii=False) for c in dict.fromkeys(choices))
    return f"root ::= {alternatives}"


def constraint_key(constraint: Constraint) -> str:
    if constraint.json_schema is not None:
        return "json:" + json.dumps(constraint.json_schema, sort_keys=True, separators=(",", ":"))
    return "choice:" + json.dumps(list(constraint.choices or []), ensure_ascii=False)


class GrammarCache:
    """Compiles constraints against one HF tokenizer; one compiled grammar per distinct constraint."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: list[int] | None = None):
        import xgrammar as xgr

        self._xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=stop_token_ids or None
        )
        self.compiler = xgr.GrammarCompiler(info, max_threads=2)
        self._compiled: dict[str, Any] = {}

    def compile(self, constraint: Constraint | None) -> Any | None:
        """The compiled grammar for `constraint`, or None when there is nothing to constrain."""
        check_constraint(constraint)
        if constraint is None or (constraint.json_schema is None and constraint.choices is None):
            return None
        key = constraint_key(constraint)
        if key not in self._compiled:
            try:
                if constraint.json_schema is not None:
                    grammar = self.compiler.compile_json_schema(
                        json.dumps(grammar_schema(constraint.json_schema)),
                        any_whitespace=False,
                        strict_mode=True,
                    )
                else:
                    grammar = self.compiler.compile_grammar(choice_ebnf(list(constraint.choices or [])))
            except (RuntimeError, ValueError, TypeError) as exc:
                raise SemacdrError(f"cannot compile the output constraint into a grammar: {exc}") from exc
            self._compiled[key] = grammar
        return self._compiled[key]

    def logits_processor(self, compiled: Any) -> Any:
        """A NEW HF logits processor (xgrammar's are single-use: one per generate call)."""
        from xgrammar.contrib.hf import LogitsProcessor

        return LogitsProcessor(compiled)
