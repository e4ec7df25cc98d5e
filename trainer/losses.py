"""The training objective: the recommendation loss (BPR, Eq. 13, or a baseline's), InfoNCE (Eq. 3, in
``models.semantic``), combined by Eq. 14.

Every recommendation loss returns one value per training instance (target step); the caller
normalises: per instance (a constant, so every step weighs the same whatever its batch) or per batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("bpr", "bce", "softmax", "full")


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Eq. 13 per instance: -log sigmoid(s_pos - s_neg); with N negatives per instance (neg (P, N)) the
    mean over them."""
    if neg.dim() > pos.dim():
        return -F.logsigmoid(pos[:, None] - neg).mean(1)
    return -F.logsigmoid(pos - neg)


def bce_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of SASRec (Kang & McAuley 2018) per instance: -log s(pos) - log(1 - s(neg));
    with N negatives per instance (neg (P, N)) the negatives' term is their mean."""
    if neg.dim() > pos.dim():
        return -F.logsigmoid(pos) - F.logsigmoid(-neg).mean(1)
    return -F.logsigmoid(pos) - F.logsigmoid(-neg)


def sampled_softmax_loss(
    pos: torch.Tensor, shared_neg: torch.Tensor, same: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of the positive against the batch's negatives (shared by every instance);
    ``same`` (P, N) marks the pool entries that are the instance's own positive, left out.

    pos (P,), shared_neg (P, N) -> (P,)
    """
    if same is not None:
        shared_neg = shared_neg.masked_fill(same, float("-inf"))
    logits = torch.cat([pos[:, None], shared_neg], 1)
    return torch.logsumexp(logits, 1) - pos


def full_softmax_loss(score_all, states: torch.Tensor, table: torch.Tensor, positives: torch.Tensor,
                      max_logits: int = 1 << 24) -> torch.Tensor:  # fmt: skip
    """Cross-entropy over every item of ``table`` (row k = item k + 1): per instance
    logsumexp_j s(z, e_j) - s(z, e_pos). ``score_all(states, table)`` gives the (P, N) scores. Instances
    go in chunks of at most ``max_logits`` scores, each recomputed in the backward pass (checkpointed),
    so memory stays bounded whatever the catalogue.

    states (P, d), table (N, d), positives (P,) item ids in 1..N -> (P,)
    """

    def chunk(z: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:  # fused log-softmax: 65 -> 41 ms (bench/)
        return F.cross_entropy(score_all(z, table), pos - 1, reduction="none")

    rows = max(1, max_logits // max(1, table.shape[0]))
    if states.shape[0] <= rows:
        return chunk(states, positives)
    from torch.utils.checkpoint import checkpoint

    return torch.cat(
        [
            checkpoint(chunk, states[k : k + rows], positives[k : k + rows], use_reentrant=False)
            for k in range(0, states.shape[0], rows)
        ]
    )


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 3: row i of ``anchor`` should be closest (cosine / tau) to row i of ``positive``."""
    a = F.normalize(anchor, dim=-1)
    p = F.normalize(positive, dim=-1)
    logits = a @ p.T / tau
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))
