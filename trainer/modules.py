"""Building blocks: the SASRec-style sequence encoder (Eqs. 7-9), the one-layer GCN (Eqs. 4-6),
cross-attention fusion (Eq. 10), adaptive fusion (Eq. 11) and the scorer (Eq. 12)."""

from __future__ import annotations

import torch
from torch import nn

from trainer.fast_encoders import packed_forward
from trainer.kernels import Dropout, attend, sparse_matmul, sparse_rows_matmul


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
        out = attend(q, k, v, mask, causal, self.dropout, self.training)
        return self.o(out.transpose(1, 2).reshape(b, lq, d))


class SequenceEncoder(nn.Module):
    """Eqs. 7-9: a causal Transformer (SASRec style: learned positions, pre-LN blocks, point-wise FFN).

    Sequences are right-padded and start with a start token, so causality alone keeps padding out.
    Switches (docs/trainer.md, "Backbone"): ``positions`` ``"recency"`` numbers states from the newest
    one (index 0 = the state that predicts next, as the left-padded reference SASRec does) instead of
    from the start token (``"forward"``); ``branch_dropout`` adds the earlier extra dropout on the
    attention branch; ``init`` ``"xavier"`` gives the position table the reference's scale
    (``"legacy"``: N(0, 1)).
    """

    def __init__(
        self,
        hidden: int,
        max_len: int,
        blocks: int,
        heads: int,
        dropout: float,
        positions: str = "recency",
        branch_dropout: bool = False,
        init: str = "xavier",
        pack: bool = False,
    ):
        super().__init__()
        self.positions, self.branch_dropout, self.pack = positions, branch_dropout, pack
        self.pos = nn.Embedding(max_len + 2, hidden)
        if init == "xavier":
            nn.init.xavier_normal_(self.pos.weight)
        self.drop = Dropout(dropout)
        self.attn_norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(blocks))
        self.attn = nn.ModuleList(Attention(hidden, heads, dropout) for _ in range(blocks))
        self.ffn_norm = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(blocks))
        self.ffn = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), Dropout(dropout), nn.Linear(hidden, hidden))
            for _ in range(blocks)
        )
        self.out_norm = nn.LayerNorm(hidden)

    def position_ids(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, L) position indices of right-padded ``tokens`` (0 = padding)."""
        steps = torch.arange(tokens.shape[1], device=tokens.device)
        if self.positions == "forward":
            return steps.expand_as(tokens)
        last = (tokens > 0).sum(1, keepdim=True) - 1  # index of each row's newest state
        return (last - steps).clamp(min=0, max=self.pos.num_embeddings - 1)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, L, d): embedded ``tokens`` (B, L); without ``tokens`` positions count forward.
        ``pack``: the same states at every real position, the token-wise work on real tokens only
        (trainer/fast_encoders.py)."""
        if self.pack and tokens is not None:
            return packed_forward(self, x, tokens)
        pos = (
            self.pos(self.position_ids(tokens))
            if tokens is not None
            else self.pos(torch.arange(x.shape[1], device=x.device))
        )
        x = self.drop(x * x.shape[-1] ** 0.5 + pos)  # Eq. 7-9 input: scaled item embedding + position
        for norm, attn, fnorm, ffn in zip(self.attn_norm, self.attn, self.ffn_norm, self.ffn, strict=True):
            q = norm(x)
            a = attn(q, x, causal=True)
            x = q + (self.drop(a) if self.branch_dropout else a)
            y = fnorm(x)
            x = y + self.drop(ffn(y))
        return self.out_norm(x)


class GCN(nn.Module):
    """Eqs. 4-6: one propagation layer, H' = LeakyReLU(Â H W + b) with Â the normalised adjacency.

    With ``rows`` (sorted unique node ids) it returns H'[rows] only, exactly those rows of the full
    product (one layer: a row depends on its neighbours' H only). Training steps ask for the nodes
    their batch reads.
    """

    def __init__(self, hidden: int, residual: bool = True):
        super().__init__()
        self.lin = nn.Linear(hidden, hidden)
        self.act = nn.LeakyReLU(0.2)
        self.residual = residual

    def forward(
        self,
        adj: torch.Tensor,
        h: torch.Tensor,
        rows: torch.Tensor | None = None,
        adj_rows: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``adj_rows``: (A'[rows], A'[rows]^T) of another adjacency to use for these rows instead of
        ``adj`` (``graphs.WindowCounts.rows_without``); ``rows`` None means every row."""
        if adj_rows is not None:
            ax = sparse_matmul(adj_rows[0], h, adj_rows[1])
            out = self.act(self.lin(ax))
            return (h if rows is None else h[rows]) + out if self.residual else out
        if rows is None:
            out = self.act(self.lin(sparse_matmul(adj, h)))  # adj: symmetric normalised, CSR
            return h + out if self.residual else out
        ax, h_rows = sparse_rows_matmul(adj, rows, h)
        out = self.act(self.lin(ax))
        return h_rows + out if self.residual else out


class CrossAttentionFusion(nn.Module):
    """Eq. 10: each target-sequence state attends over the source-sequence states before it."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.attn = Attention(hidden, heads, dropout)
        self.drop = Dropout(dropout)

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
