"""The `transformers` backend: batched `generate` on CPU (or a GPU), constrained with xgrammar.

Prompts are rendered with the model's chat template, sorted by length into batches of
`batch_size` (less padding), left-padded, generated, and returned in the caller's order.
Greedy unless `temperature > 0` (then seeded with `sampling.seed` before every batch).
"""

from __future__ import annotations

import os
import time
from typing import Any

from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Chat, Constraint, Generation, Question, SamplingConfig, Scores
from semacdr_cli.llm.grammar import GrammarCache, check_constraint
from semacdr_cli.llm.models import model_identity
from semacdr_cli.machine import cpu_flags, free_cores

DEFAULT_SAMPLING = SamplingConfig()  # frozen: safe as a shared default

DTYPES = ("auto", "bfloat16", "float32", "float16")


def default_threads() -> int:
    """torch threads for CPU inference: `$SEMACDR_THREADS`, else the cores no other process keeps busy
    (at least one): OpenMP threads fighting other processes for the cores ran ~9x slower than a single
    thread (docs/llm.md)."""
    env = os.environ.get("SEMACDR_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError as exc:
            raise SemacdrError(f"SEMACDR_THREADS must be an integer, got '{env}'") from exc
    return free_cores()


def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 matrix instructions (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def resolve_dtype(dtype: str, device: str) -> str:
    """The dtype "auto" means: bfloat16 on a GPU and on CPUs with native bf16 instructions (measured
    1.8x faster than float32 for SmolLM2's prefill on an AVX512-BF16 EPYC), float32 on other CPUs
    (measured 3.7x faster than bf16 on an AVX2 CPU without bf16 kernels)."""
    if dtype != "auto":
        return dtype
    if device != "cpu":
        return "bfloat16"
    return "bfloat16" if cpu_has_bf16() else "float32"


def _resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SemacdrError(f"device '{device}' requested but no CUDA GPU is available")
    return device


class TransformersBackend:
    """`Backend` over a local transformers model folder (see `models.resolve_model`)."""

    name = "transformers"

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "auto",
        batch_size: int = 16,
        device: str = "cpu",
        threads: int | None = None,
    ):
        if dtype not in DTYPES:
            raise SemacdrError(f"unknown dtype '{dtype}' (choose one of: {', '.join(DTYPES)})")
        if batch_size < 1:
            raise SemacdrError("batch_size must be >= 1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the CLI's rich bar is the one progress display
        self.device = _resolve_device(device)
        if self.device == "cpu":
            torch.set_num_threads(threads or default_threads())
        # recorded with every run: under bf16 the answers depend on it (docs/llm.md, `transformers` backend)
        self.threads = torch.get_num_threads() if self.device == "cpu" else None
        self.path = str(model_path)  # what is loaded; ``model`` is what provenance records
        self.model = model_identity(self.path)
        self.dtype = dtype = resolve_dtype(dtype, self.device)
        self.batch_size = batch_size
        started = time.time()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, padding_side="left")
            self.hf_model = AutoModelForCausalLM.from_pretrained(self.path, dtype=getattr(torch, dtype))
        except (OSError, ValueError) as exc:
            raise SemacdrError(f"cannot load model: {exc}".splitlines()[0], path=self.path) from exc
        self.hf_model.to(self.device).eval()
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise SemacdrError("model has no chat template", path=self.path)
        self.load_seconds = time.time() - started

        gen_cfg = self.hf_model.generation_config
        eos = gen_cfg.eos_token_id if gen_cfg.eos_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids: list[int] = [eos] if isinstance(eos, int) else list(eos or [])
        if not self.eos_ids:
            raise SemacdrError("model defines no end-of-sequence token", path=self.path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.convert_ids_to_tokens(self.eos_ids[0])
        self.pad_id = int(self.tokenizer.pad_token_id)
        self.grammars = GrammarCache(self.tokenizer, self.hf_model.config.vocab_size, self.eos_ids)
        from semacdr_cli.llm.tree_scorer import TreeScorer

        self.scorer = TreeScorer(self.hf_model, self.tokenizer, self.device, batch_size)

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
        compiled = self.grammars.compile(constraint)
        texts = [self.render(chat) for chat in prompts]
        if compiled is None and sampling.temperature == 0:  # plain greedy text: the prefix-cached path
            return self._generate_plain(texts, sampling)
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        results: list[Generation | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            for i, gen in zip(
                idx, self._generate_batch([texts[i] for i in idx], compiled, sampling), strict=True
            ):
                results[i] = gen
        return [g for g in results if g is not None]

    def score(self, prompts: list[Chat], questions: list[Question]) -> list[Scores]:
        """Log-probabilities of each question's options after each prompt (prefill only)."""
        return self.scorer.score([self.render(chat) for chat in prompts], questions)

    def close(self) -> None:
        self.hf_model = None
        self.scorer = None
        self.grammars = None
        import gc

        gc.collect()

    # -- internals -----------------------------------------------------------------------------
    def render(self, chat: Chat) -> str:
        """The prompt text; a chat ending with an assistant message is continued (an answer prefix)."""
        if chat and chat[-1]["role"] == "assistant":
            return self.tokenizer.apply_chat_template(chat, tokenize=False, continue_final_message=True)
        return self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)

    def _generate_plain(self, texts: list[str], sampling: SamplingConfig) -> list[Generation]:
        from semacdr_cli.llm.tree_scorer import PrefixGenerator

        stops = self.eos_ids + self._stop_ids(sampling.stop)
        res = PrefixGenerator(self.scorer).generate(
            texts, sampling.max_tokens, stops, sampling.repetition_penalty
        )
        return [Generation(text=self.tokenizer.decode(ids, skip_special_tokens=True), tokens_in=n_in,
                           tokens_out=len(ids) + (reason == "stop"), finish_reason=reason)
                for ids, n_in, reason in res]  # fmt: skip

    def _stop_ids(self, stops: tuple[str, ...]) -> list[int]:
        ids = []
        for s in stops:
            enc = self.tokenizer(s, add_special_tokens=False)["input_ids"]
            if len(enc) != 1:
                raise SemacdrError(f"stop string {s!r} is not a single token of this model")
            ids.append(int(enc[0]))
        return ids

    def _generate_batch(self, texts: list[str], compiled: Any, sampling: SamplingConfig) -> list[Generation]:
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        sample = sampling.temperature > 0
        stop_ids = self._stop_ids(sampling.stop)
        cfg = GenerationConfig(
            max_new_tokens=sampling.max_tokens,
            do_sample=sample,
            temperature=sampling.temperature if sample else None,
            top_p=sampling.top_p if sample else None,
            top_k=None,
            repetition_penalty=sampling.repetition_penalty if sampling.repetition_penalty != 1.0 else None,
            eos_token_id=self.eos_ids + stop_ids,
            pad_token_id=self.pad_id,
        )
        processors = LogitsProcessorList()
        if compiled is not None:
            processors.append(self.grammars.logits_processor(compiled))
        if sample:
            torch.manual_seed(sampling.seed)
        with torch.inference_mode():
            out = self.hf_model.generate(**enc, generation_config=cfg, logits_processor=processors)
        prompt_len = enc["input_ids"].shape[1]
        tokens_in = enc["attention_mask"].sum(dim=1).tolist()
        eos = set(self.eos_ids) | set(stop_ids)
        gens = []
        for row, n_in in zip(out[:, prompt_len:].tolist(), tokens_in, strict=True):
            stop_at = next((j for j, t in enumerate(row) if t in eos), None)
            if stop_at is None:
                body, n_out, reason = row, len(row), "length"
            else:
                body, n_out, reason = row[:stop_at], stop_at + 1, "stop"
            text = self.tokenizer.decode(body, skip_special_tokens=True)
            gens.append(Generation(text=text, tokens_in=int(n_in), tokens_out=n_out, finish_reason=reason))
        return gens
