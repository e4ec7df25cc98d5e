"""The training objective: the recommendation loss (BPR, Eq. 13, or a baseline's), InfoNCE (Eq. 3, in
``models.semantic``), combined by Eq. 14.

Every recommendation loss returns one value per training instance (target step); the caller
normalises: per instance (a constant, so every step weighs the same whatever its batch) or per batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("bpr", "bce", "softmax")


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Eq. 13 per instance: -log sigmoid(s_pos - s_neg)."""
    return -F.logsigmoid(pos - neg)


def bce_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of SASRec (Kang & McAuley 2018) per instance: -log s(pos) - log(1 - s(neg))."""
    return -F.logsigmoid(pos) - F.logsigmoid(-neg)


def sampled_softmax_loss(pos: torch.Tensor, shared_neg: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the positive against the batch's negatives (shared by every instance).

    pos (P,), shared_neg (P, N) -> (P,)
    """
    logits = torch.cat([pos[:, None], shared_neg], 1)
    return torch.logsumexp(logits, 1) - pos


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 3: row i of ``anchor`` should be closest (cosine / tau) to row i of ``positive``."""
    a = F.normalize(anchor, dim=-1)
    p = F.normalize(positive, dim=-1)
    logits = a @ p.T / tau
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))
