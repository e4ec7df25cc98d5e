"""Speed, not equations: other ways to evaluate ``SequenceEncoder``s (Eqs. 7-9), each with the same
outputs at every real position and the same gradients as ``SequenceEncoder.forward`` (tests compare).

``packed_forward`` (``pack_tokens = true``): the token-wise layers (input, layer norms, projections,
feed-forward, dropout) run on the real tokens only; the padding is put back for the attention
product alone. Right padding is 40-60 % of a SemaCDR micro-batch's tokens (its three sequences are
cut by their summed length), much less of SASRec's. Padded positions come out as zeros (they are
read by nothing: causal attention keeps them out of every real position).

``grouped_forward`` (``encoders = grouped``): SemaCDR's source, target and mixed encoders have the same shape and read the same users, so their
weights are stacked (one (G, d, d) tensor per linear layer, per block) and each layer runs as one
batched product over the G sequence sets, right-padded to a common length. Causal attention keeps
the padding out of every real position, so the outputs (and gradients) are those of the separate
encoders, whose modules keep owning the weights (checkpoints are unchanged); tests compare both.
Both draw dropout masks of other shapes, so a training step's random numbers differ from the plain
path's (same distribution).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer.kernels import attend, dropout

# the encoders are trainer.modules.SequenceEncoder, whose module imports this one (typed nn.Module here)


def stack_weights(encoders: list[nn.Module]) -> dict:
    """The encoders' parameters stacked along a leading group axis (once per step: every micro-batch
    of a step reuses them; the stack is differentiable, so gradients reach each encoder's own)."""

    def stack(modules) -> tuple[torch.Tensor, torch.Tensor]:  # (weights, biases) of one layer
        return torch.stack([m.weight for m in modules]), torch.stack([m.bias for m in modules])

    blocks = []
    for i in range(len(encoders[0].attn)):
        attn = [e.attn[i] for e in encoders]
        kv_w = torch.stack([torch.cat([a.k.weight, a.v.weight]) for a in attn])
        kv_b = torch.stack([torch.cat([a.k.bias, a.v.bias]) for a in attn])
        blocks.append(
            {
                "ln1": stack([e.attn_norm[i] for e in encoders]),
                "q": stack([a.q for a in attn]),
                "kv": (kv_w, kv_b),  # keys and values read the same input: one product for both
                "o": stack([a.o for a in attn]),
                "ln2": stack([e.ffn_norm[i] for e in encoders]),
                "ff1": stack([e.ffn[i][0] for e in encoders]),
                "ff2": stack([e.ffn[i][3] for e in encoders]),
            }
        )
    return {
        "pos": torch.stack([e.pos.weight for e in encoders]),
        "blocks": blocks,
        "out": stack([e.out_norm for e in encoders]),
    }


def _apply_linear(x: torch.Tensor, wb: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """x (G, N, in) -> (G, N, out) with weight (G, out, in) and bias (G, out): one batched product."""
    w, b = wb
    return torch.baddbmm(b[:, None, :], x, w.transpose(1, 2))


def _layer_norm(x: torch.Tensor, wb: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    w, b = wb
    return torch.addcmul(b[:, None, :], F.layer_norm(x, x.shape[-1:]), w[:, None, :])


def grouped_forward(
    encoders: list[nn.Module], weights: dict, xs: list[torch.Tensor], tokens: list[torch.Tensor]
) -> list[torch.Tensor]:
    """``[encoders[g](xs[g], tokens[g]) for g]`` as one computation; ``weights`` from ``stack_weights``.
    xs[g] (B, L_g, d) right-padded, tokens[g] (B, L_g) with 0 = padding; every set has the same B."""
    first = encoders[0]
    n_groups, (b, d) = len(xs), (xs[0].shape[0], xs[0].shape[-1])
    lengths = [x.shape[1] for x in xs]
    length = max(lengths)
    x = torch.stack([F.pad(x, (0, 0, 0, length - x.shape[1])) for x in xs])  # (G, B, L, d)
    tok = torch.stack([F.pad(t, (0, length - t.shape[1])) for t in tokens])  # (G, B, L)
    ids = first.position_ids(tok.view(n_groups * b, length)).view(n_groups, b, length)
    group = torch.arange(n_groups, device=x.device)[:, None, None]
    p, training = first.drop.p, first.training
    x = dropout(x * d**0.5 + weights["pos"][group, ids], p, training)  # Eqs. 7-9 input
    x = x.view(n_groups, b * length, d)
    heads, attn_p = first.attn[0].heads, first.attn[0].dropout

    def split(t):  # (G, B*L, d) -> (G*B, heads, L, d / heads)
        return t.reshape(n_groups * b, length, heads, d // heads).transpose(1, 2)

    for w in weights["blocks"]:
        q_in = _layer_norm(x, w["ln1"])
        q = _apply_linear(q_in, w["q"])
        k, v = _apply_linear(x, w["kv"]).split(d, dim=-1)
        a = attend(split(q), split(k), split(v), None, True, attn_p, training)
        a = _apply_linear(a.transpose(1, 2).reshape(n_groups, b * length, d), w["o"])
        x = q_in + (dropout(a, p, training) if first.branch_dropout else a)
        y = _layer_norm(x, w["ln2"])
        h = dropout(torch.relu(_apply_linear(y, w["ff1"])), p, training)
        x = y + dropout(_apply_linear(h, w["ff2"]), p, training)
    out = _layer_norm(x, weights["out"]).view(n_groups, b, length, d)
    return [out[g, :, : lengths[g]] for g in range(n_groups)]


def packed_forward(enc: nn.Module, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``enc(x, tokens)`` with the token-wise work on real tokens only (zeros at padded positions)."""
    b, length, d = x.shape
    keep = (tokens.reshape(-1) > 0).nonzero().squeeze(1)  # the real positions, flat
    ids = enc.position_ids(tokens).reshape(-1)[keep]
    h = enc.drop(x.reshape(-1, d)[keep] * d**0.5 + enc.pos(ids))  # Eqs. 7-9 input, real tokens
    p, training = enc.drop.p, enc.training
    for norm, attn, fnorm, ffn in zip(enc.attn_norm, enc.attn, enc.ffn_norm, enc.ffn, strict=True):
        q_in = norm(h)
        qkv = torch.cat([attn.q(q_in), attn.k(h), attn.v(h)], -1)
        padded = qkv.new_zeros(b * length, 3 * d).index_copy(0, keep, qkv)
        heads = padded.view(b, length, 3 * attn.heads, d // attn.heads).transpose(1, 2)
        q, k, v = heads.split(attn.heads, dim=1)
        a = attend(q, k, v, None, True, attn.dropout, training)
        a = attn.o(a.transpose(1, 2).reshape(b * length, d)[keep])
        h = q_in + (dropout(a, p, training) if enc.branch_dropout else a)
        y = fnorm(h)
        h = y + enc.drop(ffn(y))
    out = enc.out_norm(h)
    return out.new_zeros(b * length, d).index_copy(0, keep, out).view(b, length, d)
