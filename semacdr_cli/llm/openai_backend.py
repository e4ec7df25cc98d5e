"""The `openai` backend: any OpenAI-compatible chat server (`vllm serve`, llama.cpp server, Ollama).

One request per prompt, at most `concurrency` in flight (a thread pool over the `openai` client),
results in the caller's order. Structured output:

- JSON schema: `response_format={"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`;
- choices: vLLM's extension `extra_body={"structured_outputs": {"choice": [...]}}` first; a server
  that rejects it (HTTP 400/404/422), or ignores it (answers something that is not a choice), is
  asked again with a JSON schema `{"choice": {"enum": [...]}}`, and this backend remembers to use
  the schema from then on. Either way `Generation.text` is the bare choice.

Token counts come from the response's `usage`. Scaling out = many vLLM servers behind one URL.
"""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Chat, Constraint, Generation, SamplingConfig
from semacdr_cli.llm.grammar import check_constraint, grammar_schema

DEFAULT_SAMPLING = SamplingConfig()  # frozen: safe as a shared default

_REJECTED = (400, 404, 422)


def choice_schema(choices: list[str]) -> dict[str, Any]:
    """The portable fallback for choices: an object with one enum field (strict servers want an object)."""
    return {
        "type": "object",
        "properties": {"choice": {"type": "string", "enum": list(dict.fromkeys(choices))}},
        "required": ["choice"],
        "additionalProperties": False,
    }


def _json_schema_format(schema: dict[str, Any], name: str = "output") -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "schema": grammar_schema(schema), "strict": True},
    }


class OpenAIBackend:
    """`Backend` over an OpenAI-compatible `/v1/chat/completions` endpoint."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 2,
    ):
        if concurrency < 1:
            raise SemacdrError("concurrency must be >= 1")
        if not base_url.startswith(("http://", "https://")):
            raise SemacdrError(f"base URL '{base_url}' must start with http:// or https://")
        try:
            import openai
        except ImportError as exc:
            raise SemacdrError(
                "the openai backend needs the package 'openai' (pip install semacdr[openai])"
            ) from exc
        self._openai = openai
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY",
            timeout=timeout,
            max_retries=max_retries,
        )
        self.choice_mode = "structured_outputs"  # becomes "json_schema" once a server refuses it
        self._lock = threading.Lock()

    # -- Backend -------------------------------------------------------------------------------
    def generate(
        self,
        prompts: list[Chat],
        constraint: Constraint | None = None,
        sampling: SamplingConfig = DEFAULT_SAMPLING,
    ) -> list[Generation]:
        check_constraint(constraint)
        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            futures = [pool.submit(self._one, chat, constraint, sampling) for chat in prompts]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def close(self) -> None:
        self.client.close()

    # -- internals -----------------------------------------------------------------------------
    def _one(self, chat: Chat, constraint: Constraint | None, sampling: SamplingConfig) -> Generation:
        if constraint is not None and constraint.choices is not None:
            return self._one_choice(chat, list(constraint.choices), sampling)
        fmt = None
        if constraint is not None and constraint.json_schema is not None:
            fmt = _json_schema_format(constraint.json_schema)
        resp = self._request(chat, sampling, response_format=fmt)
        return self._generation(resp)

    def _one_choice(self, chat: Chat, choices: list[str], sampling: SamplingConfig) -> Generation:
        if self.choice_mode == "structured_outputs":
            try:
                resp = self._request(chat, sampling, extra_body={"structured_outputs": {"choice": choices}})
            except self._openai.APIStatusError as exc:
                if exc.status_code not in _REJECTED:
                    raise self._error(exc) from exc
                resp = None
            if resp is not None:
                gen = self._generation(resp)
                if gen.text in choices:
                    return gen
            with self._lock:
                self.choice_mode = "json_schema"
        resp = self._request(
            chat, sampling, response_format=_json_schema_format(choice_schema(choices), "choice")
        )
        gen = self._generation(resp)
        try:
            gen.text = json.loads(gen.text)["choice"]
        except (ValueError, TypeError, KeyError):
            pass  # left as the server said it; the caller's validation reports it
        return gen

    def _request(self, chat: Chat, sampling: SamplingConfig, **kwargs: Any) -> Any:
        params = {k: v for k, v in kwargs.items() if v is not None}
        if sampling.repetition_penalty != 1.0:  # vLLM's server extension (no OpenAI equivalent)
            params["extra_body"] = {
                **params.get("extra_body", {}),
                "repetition_penalty": sampling.repetition_penalty,
            }
        try:
            return self.client.chat.completions.create(
                model=self.model,
                messages=chat,
                max_tokens=sampling.max_tokens,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                seed=sampling.seed,
                **params,
            )
        except self._openai.APIStatusError as exc:
            asked_choice = "structured_outputs" in (kwargs.get("extra_body") or {})
            if asked_choice and exc.status_code in _REJECTED:
                raise  # the caller (_one_choice) falls back to a JSON schema
            raise self._error(exc) from exc
        except self._openai.APIError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: Exception) -> SemacdrError:
        openai = self._openai
        if isinstance(exc, openai.APITimeoutError):
            return SemacdrError(f"the OpenAI-compatible server at {self.base_url} timed out")
        if isinstance(exc, openai.APIConnectionError):
            return SemacdrError(
                f"cannot reach the OpenAI-compatible server at {self.base_url} ({exc}); is it running?"
            )
        if isinstance(exc, openai.APIStatusError):
            detail = " ".join(str(getattr(exc, "message", exc)).split())[:300]
            return SemacdrError(
                f"the server at {self.base_url} answered HTTP {exc.status_code} for model '{self.model}': {detail}"
            )
        return SemacdrError(f"the server at {self.base_url} failed: {' '.join(str(exc).split())[:300]}")

    def _generation(self, resp: Any) -> Generation:
        if not getattr(resp, "choices", None):
            raise SemacdrError(f"the server at {self.base_url} returned no choices")
        choice = resp.choices[0]
        usage = getattr(resp, "usage", None)
        return Generation(
            text=(choice.message.content or "") if choice.message else "",
            tokens_in=int(getattr(usage, "prompt_tokens", 0) or 0),
            tokens_out=int(getattr(usage, "completion_tokens", 0) or 0),
            finish_reason=choice.finish_reason,
        )
