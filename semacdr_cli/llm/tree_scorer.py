"""Prefill-only option scoring for a transformers causal LM: one forward pass per batch of prompts.

The prompts of a call share a long prefix (instructions and taxonomy); its KV cache is computed
once and reused for every batch while the prefix stays the same. Each prompt's suffix (the item)
and all its questions are packed into one tree (`option_trie.pack`) and run with a 4D attention
mask, so the cost per item is its own tokens plus a few tokens per question. Only the read-out
positions go through the LM head.
"""

from __future__ import annotations

import copy
from typing import Any

from semacdr_cli.llm.base import Question, Scores
from semacdr_cli.llm.option_trie import Packed, ancestors_mask, option_logprobs, pack, question_tokens


def common_prefix(texts: list[str]) -> str:
    """The longest common prefix of `texts`, cut after its last newline (a safe token boundary)."""
    if not texts:
        return ""
    first, last = min(texts), max(texts)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    cut = first[:n].rfind("\n")
    return first[: cut + 1] if cut >= 0 else ""


class TreeScorer:
    def __init__(self, hf_model: Any, tokenizer: Any, device: str, batch_size: int):
        self.model, self.tok, self.device, self.batch_size = hf_model, tokenizer, device, max(1, batch_size)
        # (text, ids, KV cache) of the last few shared prefixes: a job alternates between prompt
        # families (label scoring, descriptions), each keeps its own cache
        self._prefixes: list[tuple[str, list[int], Any]] = []
        self._questions: dict[tuple, list[tuple[list[int], list[list[int]]]]] = {}

    def _encode(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def _question_tokens(self, questions: list[Question]) -> list[tuple[list[int], list[list[int]]]]:
        key = tuple((q.cue, tuple(q.options)) for q in questions)
        if key not in self._questions:
            out = [question_tokens(self._encode, q.cue, q.options) for q in questions]
            if len(self._questions) > 32:
                self._questions.clear()
            self._questions[key] = out
        return self._questions[key]

    def _prefix_cache(self, texts: list[str]) -> tuple[str, list[int], Any]:
        import torch

        for entry in self._prefixes:
            if entry[0] and all(t.startswith(entry[0]) for t in texts):
                return entry
        text = common_prefix(texts)
        ids = self._encode(text) if text else []
        cache = None
        if ids:
            with torch.inference_mode():
                out = self.model.get_decoder()(
                    input_ids=torch.tensor([ids], device=self.device), use_cache=True
                )
            cache = out.past_key_values
        entry = (text, ids, cache)
        self._prefixes = [entry, *self._prefixes][:4]
        return entry

    def score(self, texts: list[str], questions: list[Question]) -> list[Scores]:
        if not texts:
            return []
        qtoks = self._question_tokens(questions)
        prefix_text, prefix_ids, cache = self._prefix_cache(texts)
        packs = [pack(self._encode(t[len(prefix_text) :]) or [self.tok.eos_token_id], qtoks) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(packs[i].tokens))
        results: list[Scores | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            for i, lp in zip(idx, self._run([packs[i] for i in idx], len(prefix_ids), cache), strict=True):
                results[i] = Scores(logprobs=lp, tokens_in=len(packs[i].tokens))
        return [r for r in results if r is not None]

    def _run(self, packs: list[Packed], prefix_len: int, cache: Any) -> list[list[list[float]]]:
        import torch

        b, q = len(packs), max(len(p.tokens) for p in packs)
        ids = torch.zeros((b, q), dtype=torch.long)
        pos = torch.zeros((b, q), dtype=torch.long)
        mask = torch.zeros((b, 1, q, prefix_len + q), dtype=torch.bool)
        mask[:, :, :, :prefix_len] = True
        for r, p in enumerate(packs):
            n = len(p.tokens)
            ids[r, :n] = torch.tensor(p.tokens)
            pos[r, :n] = torch.tensor(p.positions) + prefix_len
            for i, seen in enumerate(ancestors_mask(p)):
                mask[r, 0, i, [prefix_len + s for s in seen]] = True
            for i in range(n, q):  # padding rows attend to themselves only (no empty softmax row)
                mask[r, 0, i, prefix_len + i] = True
        past = None
        if cache is not None:
            past = copy.deepcopy(cache)
            if b > 1:
                past.batch_repeat_interleave(b)
        with torch.inference_mode():
            hidden = self.model.get_decoder()(
                input_ids=ids.to(self.device),
                attention_mask=mask.to(self.device),
                position_ids=pos.to(self.device),
                past_key_values=past,
                use_cache=past is not None,
            ).last_hidden_state
            rows = torch.tensor([r for r, p in enumerate(packs) for _ in p.readouts])
            cols = torch.tensor([i for p in packs for i in p.readouts])
            logits = self.model.get_output_embeddings()(hidden[rows, cols]).float()
            logp = torch.log_softmax(logits, dim=-1)
        out, base = [], 0
        for p in packs:
            row0 = base
            out.append(option_logprobs(p, lambda r, tok, row0=row0: float(logp[row0 + r, tok])))
            base += len(p.readouts)
        return out


class PrefixGenerator:
    """Greedy plain-text generation that reuses the shared prompt prefix's KV cache (the item is the
    only new text per prompt), drops finished rows from the batch, and stops at `stop_ids`.

    Repetition penalty as transformers applies it (CTRL: a token already in the prompt or the output
    has its logit divided by the penalty when positive, multiplied when negative), except that stop
    tokens are exempt, so a newline in the instructions never keeps an answer from ending. The
    first token is never a stop token (an answer of zero tokens says nothing)."""

    def __init__(self, scorer: TreeScorer):
        self.s = scorer

    def generate(self, texts: list[str], max_tokens: int, stop_ids: list[int], penalty: float = 1.0
                 ) -> list[tuple[list[int], int, str]]:  # fmt: skip
        """(generated token ids without the stop token, prompt tokens, finish reason) per text."""
        s = self.s
        prefix_text, prefix_ids, cache = s._prefix_cache(texts)
        suffixes = [s._encode(t[len(prefix_text) :]) or [s.tok.eos_token_id] for t in texts]
        order = sorted(range(len(texts)), key=lambda i: len(suffixes[i]))
        out: list[tuple[list[int], int, str] | None] = [None] * len(texts)
        for start in range(0, len(order), s.batch_size):
            idx = order[start : start + s.batch_size]
            for i, res in zip(idx, self._batch([suffixes[i] for i in idx], prefix_ids, cache, max_tokens,
                                               set(stop_ids), penalty), strict=True):  # fmt: skip
                out[i] = (res[0], len(prefix_ids) + len(suffixes[i]), res[1])
        return [o for o in out if o is not None]

    def _batch(self, suffixes, prefix_ids, cache, max_tokens, stops: set[int], penalty: float):
        import torch

        s = self.s
        b, lmax, p = len(suffixes), max(len(x) for x in suffixes), len(prefix_ids)
        ids = torch.full((b, lmax), int(s.tok.eos_token_id), dtype=torch.long)
        pos = torch.zeros((b, lmax), dtype=torch.long)
        mask = torch.zeros((b, 1, lmax, p + lmax), dtype=torch.bool)
        mask[:, :, :, :p] = True
        lens = torch.tensor([len(x) for x in suffixes])
        for r, x in enumerate(suffixes):
            n = len(x)
            ids[r, :n] = torch.tensor(x)
            pos[r, :lmax] = torch.arange(lmax) + p
            mask[r, 0, :n, p : p + n] = torch.tril(torch.ones((n, n), dtype=torch.bool))
            for i in range(n, lmax):
                mask[r, 0, i, p + i] = True
        past = copy.deepcopy(cache) if cache is not None else None
        if past is not None and b > 1:
            past.batch_repeat_interleave(b)
        dec, head = s.model.get_decoder(), s.model.get_output_embeddings()
        seen = [set(prefix_ids) | set(x) for x in suffixes] if penalty != 1.0 else []
        gen: list[list[int]] = [[] for _ in range(b)]
        reason = ["length"] * b
        alive = list(range(b))  # original row of each live batch row
        key_mask = torch.stack([mask[r, 0, lens[r] - 1] for r in range(b)])  # prefix + the row's real tokens
        with torch.inference_mode():
            h = dec(
                input_ids=ids.to(s.device),
                attention_mask=mask.to(s.device),
                position_ids=pos.to(s.device),
                past_key_values=past,
                use_cache=True,
            ).last_hidden_state
            last = h[torch.arange(b), lens - 1]
            for step in range(max_tokens):
                logits = head(last).float()
                if penalty != 1.0:
                    for row, r in enumerate(alive):
                        rep = torch.tensor(sorted((seen[r] | set(gen[r])) - stops), dtype=torch.long)
                        if len(rep):
                            v = logits[row, rep]
                            logits[row, rep] = torch.where(v > 0, v / penalty, v * penalty)
                if step == 0 and stops:  # at least one token: an answer never ends before it starts
                    logits[:, sorted(stops)] = float("-inf")
                nxt = logits.argmax(-1).tolist()
                keep = []
                for row, r in enumerate(alive):
                    t = nxt[row]
                    if t in stops:
                        reason[r] = "stop"
                    else:
                        gen[r].append(t)
                        keep.append(row)
                if not keep or step == max_tokens - 1:
                    break
                if len(keep) < len(alive):
                    sel = torch.tensor(keep)
                    past.batch_select_indices(sel)
                    key_mask = key_mask[sel]
                    alive = [alive[k] for k in keep]
                    nxt = [nxt[k] for k in keep]
                key_mask = torch.cat([key_mask, torch.ones((len(alive), 1), dtype=torch.bool)], dim=1)
                step_pos = torch.tensor([[p + int(lens[r]) + len(gen[r]) - 1] for r in alive])
                h = dec(
                    input_ids=torch.tensor([[t] for t in nxt], device=s.device),
                    attention_mask=key_mask[:, None, None, :].to(s.device),
                    position_ids=step_pos.to(s.device),
                    past_key_values=past,
                    use_cache=True,
                ).last_hidden_state
                last = h[:, -1]
        return [(gen[r], reason[r]) for r in range(b)]
