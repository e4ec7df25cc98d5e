"""LLM backends behind one small interface (`base.Backend`); jobs get a backend passed in and
never import a concrete one. `get_backend(name, ...)` builds one by name, importing its module lazily
(torch, transformers, vllm and openai load only when a backend is built)."""

from __future__ import annotations

from typing import Any

from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend, Chat, Constraint, Generation, SamplingConfig


def _local(name: str, module: str, cls: str):
    """A backend over a local model (bundled SmolLM2, a folder, a .gguf file, a cached hub id)."""

    def build(model: str | None, opts: dict[str, Any]) -> Backend:
        import importlib

        from semacdr_cli.llm.models import resolve_model

        if opts.pop("base_url", None):
            raise SemacdrError(f"--base-url is only for --backend openai, not --backend {name}")
        try:
            backend_cls = getattr(importlib.import_module(module), cls)
        except ImportError as exc:
            raise SemacdrError(f"the {name} backend is not available: {exc}") from exc
        return backend_cls(resolve_model(model), **opts)

    return build


def _openai(model: str | None, opts: dict[str, Any]) -> Backend:
    from semacdr_cli.llm.openai_backend import OpenAIBackend

    base_url = opts.pop("base_url", None)
    if not base_url:
        raise SemacdrError("--backend openai needs --base-url (e.g. http://localhost:8000/v1)")
    if not model:
        raise SemacdrError("--backend openai needs --model (the server's model name)")
    return OpenAIBackend(base_url, model, **opts)


# backend name -> factory(model, opts); a new backend is one module plus one line here
REGISTRY: dict[str, Any] = {
    "transformers": _local("transformers", "semacdr_cli.llm.transformers_backend", "TransformersBackend"),
    "vllm": _local("vllm", "semacdr_cli.llm.vllm_backend", "VLLMBackend"),
    "openai": _openai,
}
BACKENDS = tuple(REGISTRY)

__all__ = ["BACKENDS", "Backend", "Chat", "Constraint", "Generation", "SamplingConfig", "get_backend"]


def get_backend(name: str, model: str | None = None, **opts: Any) -> Backend:
    """Build the backend `name` ("transformers" | "vllm" | "openai").

    - transformers / vllm: `model` is a `--model` value (None = bundled SmolLM2, a folder, a .gguf
      file or a locally cached hub id), resolved with `models.resolve_model`; `opts` go to the
      backend constructor (e.g. batch_size=, dtype=, device= for transformers).
    - openai: `model` is the server's model name; `opts` must carry `base_url` (and may carry
      api_key=, concurrency=, timeout=).
    """
    key = (name or "").strip().lower()
    if key not in REGISTRY:
        raise SemacdrError(f"unknown backend '{name}' (choose one of: {', '.join(BACKENDS)})")
    return REGISTRY[key](model, dict(opts))
