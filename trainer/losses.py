"""The training objective: BPR (Eq. 13) and InfoNCE (Eq. 3, in ``models.semantic``) combined by Eq. 14."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Eq. 13: -log sigmoid(s_pos - s_neg), averaged over the instances."""
    if pos.numel() == 0:
        return pos.sum()
    return -F.logsigmoid(pos - neg).mean()


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 3: row i of ``anchor`` should be closest (cosine / tau) to row i of ``positive``."""
    a = F.normalize(anchor, dim=-1)
    p = F.normalize(positive, dim=-1)
    logits = a @ p.T / tau
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))
