"""Building blocks: the SASRec-style sequence encoder (Eqs. 7-9), the one-layer GCN (Eqs. 4-6),
cross-attention fusion (Eq. 10), adaptive fusion (Eq. 11) and the scorer (Eq. 12)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention with a boolean mask (True = may attend)."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.o = nn.Linear(hidden, hidden)

    def forward(self, query, key, mask=None, causal: bool = False):
        b, lq, d = query.shape
        lk = key.shape[1]
        h = self.heads

        def split(x, n):
            return x.view(b, n, h, d // h).transpose(1, 2)

        q, k, v = split(self.q(query), lq), split(self.k(key), lk), split(self.v(key), lk)
        if mask is not None:
            mask = mask.unsqueeze(1)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal and mask is None,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.o(out.transpose(1, 2).reshape(b, lq, d))


class SequenceEncoder(nn.Module):
    """Eqs. 7-9: a causal Transformer (SASRec style: learned positions, pre-LN blocks, point-wise FFN).

    Sequences are right-padded and start with a start token, so causality alone keeps padding out.
    """

    def __init__(self, hidden: int, max_len: int, blocks: int, heads: int, dropout: float):
        super().__init__()
        self.pos = nn.Embedding(max_len + 2, hidden)
        self.drop = nn.Dropout(dropout)
        self.attn_norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(blocks))
        self.attn = nn.ModuleList(Attention(hidden, heads, dropout) for _ in range(blocks))
        self.ffn_norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(blocks))
        self.ffn = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden))
            for _ in range(blocks)
        )
        self.out_norm = nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device)
        x = self.drop(x * x.shape[-1] ** 0.5 + self.pos(positions))
        for norm, attn, fnorm, ffn in zip(self.attn_norm, self.attn, self.ffn_norm, self.ffn, strict=True):
            q = norm(x)
            x = q + self.drop(attn(q, x, causal=True))
            y = fnorm(x)
            x = y + self.drop(ffn(y))
        return self.out_norm(x)


class GCN(nn.Module):
    """Eqs. 4-6: one propagation layer, H' = LeakyReLU(Â H W + b) with Â the normalised adjacency."""

    def __init__(self, hidden: int):
        super().__init__()
        self.lin = nn.Linear(hidden, hidden)
        self.act = nn.LeakyReLU(0.2)

    def forward(self, adj: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.act(self.lin(torch.sparse.mm(adj, h)))


class CrossAttentionFusion(nn.Module):
    """Eq. 10: each target-sequence state attends over the source-sequence states before it."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.attn = Attention(hidden, heads, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, h_t: torch.Tensor, h_s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return h_t + self.drop(self.attn(self.norm(h_t), h_s, mask=mask))


class AdaptiveFusion(nn.Module):
    """Eq. 11: learnable weights (softmax-normalised) over the fused target sequence, the mixed
    sequence and the user embedding; ``average=True`` is Table 3's AvgFusion (fixed 1/n)."""

    def __init__(self, n: int, average: bool = False):
        super().__init__()
        self.average = average
        self.logits = nn.Parameter(torch.zeros(n), requires_grad=not average)

    def weights(self) -> torch.Tensor:
        if self.average:
            return torch.full_like(self.logits, 1.0 / self.logits.numel())
        return torch.softmax(self.logits, 0)

    def forward(self, *parts: torch.Tensor) -> torch.Tensor:
        w = self.weights()
        return sum(w[k] * p for k, p in enumerate(parts))


class Scorer(nn.Module):
    """Eq. 12: the preference score of a user state for an item, a dot product or an MLP."""

    def __init__(self, hidden: int, kind: str = "dot"):
        super().__init__()
        self.kind = kind
        if kind == "mlp":
            self.mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def pairs(self, state: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """state (..., d), items (..., d) -> (...)"""
        if self.kind == "dot":
            return (state * items).sum(-1)
        return self.mlp(torch.cat([state, items], -1)).squeeze(-1)

    def all(self, state: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """state (B, d), table (N, d) -> (B, N)"""
        if self.kind == "dot":
            return state @ table.T
        b, n = state.shape[0], table.shape[0]
        return self.pairs(state[:, None, :].expand(b, n, -1), table[None, :, :].expand(b, n, -1))
