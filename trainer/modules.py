"""Building blocks: the SASRec-style sequence encoder (Eqs. 7-9), the one-layer GCN (Eqs. 4-6),
cross-attention fusion (Eq. 10), adaptive fusion (Eq. 11) and the scorer (Eq. 12)."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn


class Dropout(nn.Module):
    """Inverted dropout, as ``nn.Dropout``, with the mask drawn by ``rand_like``: on CPU torch's
    ``bernoulli_`` costs ~10 ns an element and was half of an encoder's time (bench/train_bench.py)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    if not training or p == 0.0:
        return x
    # floor(u + 1 - p) is 1 exactly when u >= p: a float mask built in place, no bool-to-float copy
    mask = torch.rand_like(x).add_(1.0 - p).floor_().mul_(1.0 / (1.0 - p))
    return x * mask


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


def attend(q, k, v, mask, causal: bool, p: float, training: bool) -> torch.Tensor:
    """softmax(QK^T / sqrt(d_head)) V over (..., heads, L, d_head); ``mask`` True = may attend."""
    if not (training and p > 0):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal and mask is None)
    # with (fast) dropout on the attention weights
    lq, lk = q.shape[-2], k.shape[-2]
    if mask is None and causal:
        mask = torch.ones(lq, lk, dtype=torch.bool, device=q.device).tril()
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if mask is not None:  # a row with nothing to attend to gets zeros, as in SDPA
        weights = torch.nan_to_num(torch.softmax(scores.masked_fill(~mask, float("-inf")), -1))
    else:
        weights = torch.softmax(scores, -1)
    return dropout(weights, p, True) @ v


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
    ):
        super().__init__()
        self.positions, self.branch_dropout = positions, branch_dropout
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
        """x (B, L, d): embedded ``tokens`` (B, L); without ``tokens`` positions count forward."""
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


class _SparseMatmul(torch.autograd.Function):
    """``a @ h`` for a constant sparse CSR ``a``, whose backward multiplies by a stored transpose
    (``a`` itself when symmetric) instead of transposing a COO matrix on every step (4x faster on CPU)."""

    @staticmethod
    def forward(ctx, a, a_t, h):
        ctx.a_t = a_t
        return a @ h

    @staticmethod
    def backward(ctx, grad):
        return None, None, ctx.a_t @ grad


def sparse_matmul(a: torch.Tensor, h: torch.Tensor, a_t: torch.Tensor | None = None) -> torch.Tensor:
    """``a @ h`` with gradients for ``h``; ``a_t`` is the transpose of ``a`` (None: ``a`` is symmetric)."""
    return _SparseMatmul.apply(a, a if a_t is None else a_t, h)


class _SparseRowsMatmul(torch.autograd.Function):
    """``(a[rows] @ h, h[rows])`` for a constant symmetric sparse CSR ``a``: only the rows asked for are
    computed. The backward uses a[rows]^T g = a[:, rows] g = a (P g), with P g the gradient scattered
    into the asked rows of a zero matrix (symmetry again, so no transpose is ever built), and adds the
    gather's gradient into that same result (one full-size gradient for ``h``, not two and a sum)."""

    @staticmethod
    def forward(ctx, a, rows, h):
        ctx.a, ctx.rows = a, rows
        return csr_rows(a, rows) @ h, h[rows]

    @staticmethod
    def backward(ctx, g_ax, g_rows):
        a, rows = ctx.a, ctx.rows
        ref = g_ax if g_ax is not None else g_rows
        if g_ax is None:
            return None, None, ref.new_zeros(a.shape[1], ref.shape[1]).index_add_(0, rows, g_rows)
        grad = a @ ref.new_zeros(a.shape[1], ref.shape[1]).index_copy_(0, rows, g_ax)
        if g_rows is not None:
            grad.index_add_(0, rows, g_rows)
        return None, None, grad


def csr_rows(a: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The rows ``rows`` (sorted, unique) of the sparse CSR matrix ``a``, as a (len(rows), n) CSR matrix."""
    crow, col, val = a.crow_indices(), a.col_indices(), a.values()
    starts = crow[rows]
    counts = crow[rows + 1] - starts
    new_crow = torch.zeros(len(rows) + 1, dtype=crow.dtype, device=crow.device)
    torch.cumsum(counts, 0, out=new_crow[1:])
    local = torch.repeat_interleave(torch.arange(len(rows), device=crow.device), counts)
    take = torch.arange(int(new_crow[-1]), device=crow.device) - new_crow[local] + starts[local]
    with warnings.catch_warnings():  # "sparse CSR tensor support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            new_crow, col[take], val[take], (len(rows), a.shape[1]), check_invariants=False
        )


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
        ax, h_rows = _SparseRowsMatmul.apply(adj, rows, h)
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
