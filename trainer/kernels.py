"""Speed, not equations: the kernels the model code calls (inverted dropout with a cheap mask, the
attention product, sparse products whose backward reuses a stored transpose, row slices of a CSR
matrix). ``trainer/modules.py`` holds the equations built from them."""

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


def sparse_rows_matmul(a: torch.Tensor, rows: torch.Tensor, h: torch.Tensor):
    """``(a[rows] @ h, h[rows])`` for a constant symmetric sparse CSR ``a`` (``_SparseRowsMatmul``)."""
    return _SparseRowsMatmul.apply(a, rows, h)


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
