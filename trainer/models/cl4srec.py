"""Baseline CL4SRec (Xie et al., "Contrastive Learning for Sequential Recommendation", ICDE 2022):
SASRec over the target sequence plus a contrastive task on two augmented views of each user's
training sequence, L = L_rec + weight * L_cl (the paper's Eq. 11; weight ``cl4srec_weight`` = 0.1).

The three augmentations (the paper's §III-B), each drawn uniformly for each view:
- crop: a contiguous sub-sequence of floor(eta * n) items (at least one) -- order kept, a subset;
- mask: floor(gamma * n) positions replaced by a learnt [mask] vector -- length and order kept;
- reorder: a contiguous span of floor(beta * n) items shuffled -- the item multiset kept.
eta = 0.6, gamma = 0.3, beta = 0.6 (``cl4srec_crop/mask/reorder``). The contrastive loss is NT-Xent
over the batch: the two views of a user are the positive pair, the other 2(N - 1) views the negatives,
similarity the dot product of the encoders' last states over tau (``cl4srec_tau`` = 1.0).

No official code was released by the authors. The choices above were checked against the paper and
the implementation most reproductions use, RecBole's data augmentation for CL4SRec (``cl4srec_aug``:
eta 0.6, gamma 0.3, beta 0.6, a dedicated mask id) and JamZheng/CL4SRec-pytorch at bcfeedc
(``augmentation.py``). Here, as everywhere in the harness, the recommendation loss is the table's
(``loss``), not the paper's BCE, and the augmented views are of the training target sequence (the
held-out items never enter a view).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer.models.sasrec import SASRec

AUGMENTATIONS = ("crop", "mask", "reorder")


def augment(items: torch.Tensor, kind: str, ratio: float, gen: torch.Generator | None = None):
    """One view of a 1-D item sequence: (items, masked) where ``masked`` marks positions whose item
    is hidden behind the mask vector (only ``mask`` sets any)."""
    n = items.shape[0]
    none = torch.zeros(n, dtype=torch.bool)
    if kind == "crop":
        keep = max(1, int(n * ratio))
        start = int(torch.randint(0, n - keep + 1, (1,), generator=gen))
        return items[start : start + keep], none[:keep]
    if kind == "mask":
        hidden = torch.randperm(n, generator=gen)[: int(n * ratio)]
        masked = none.clone()
        masked[hidden] = True
        return items, masked
    if kind == "reorder":
        span = int(n * ratio)
        if span < 2:
            return items, none
        start = int(torch.randint(0, n - span + 1, (1,), generator=gen))
        out = items.clone()
        out[start : start + span] = items[start : start + span][torch.randperm(span, generator=gen)]
        return out, none
    raise ValueError(f"unknown augmentation {kind!r}")


def nt_xent(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """NT-Xent (the paper's Eq. 10): row i of ``a`` and row i of ``b`` are a positive pair; every other
    row of both is a negative. Dot-product similarity over ``tau``; mean over the 2N anchors."""
    z = torch.cat([a, b])
    n = a.shape[0]
    sim = (z @ z.T) / tau
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(sim, target)


class CL4SRec(SASRec):
    def __init__(self, config, data, graphs=None):  # graphs: unused (no graph module)
        super().__init__(config, data, graphs)
        self.mask_vector = nn.Parameter(torch.randn(config.hidden) * 0.02)
        self.ratios = {
            "crop": config.cl4srec_crop,
            "mask": config.cl4srec_mask,
            "reorder": config.cl4srec_reorder,
        }

    def aux_losses(self, parts: list[dict], tables: dict) -> dict[str, torch.Tensor]:
        out = super().aux_losses(parts, tables)  # the semantic component's Eq. 3, when plugged in
        if self.config.cl4srec_weight > 0:
            # per micro-batch (users of similar length: little padding), both views of every user
            per_part = [[row[row > 0].cpu() for row in p["t_pos"]] for p in parts]
            per_part = [[s for s in seqs if len(s)] for seqs in per_part]
            pairs = [(self._states(seqs, tables), self._states(seqs, tables)) for seqs in per_part if seqs]
            if sum(len(a) for a, _ in pairs) > 1:
                a, b = (torch.cat([p[k] for p in pairs]) for k in (0, 1))
                out["cl4srec"] = self.config.cl4srec_weight * nt_xent(a, b, self.config.cl4srec_tau)
        return out

    def _states(self, seqs: list[torch.Tensor], tables: dict) -> torch.Tensor:
        """(N, d): the encoder's last state over one augmented view of each sequence."""
        kinds = torch.randint(0, len(AUGMENTATIONS), (len(seqs),))
        views = [
            augment(s, AUGMENTATIONS[k], self.ratios[AUGMENTATIONS[k]])
            for s, k in zip(seqs, kinds.tolist(), strict=True)
        ]
        width = 1 + max(len(v) for v, _ in views)
        tokens = torch.zeros(len(views), width, dtype=torch.long)
        masked = torch.zeros(len(views), width, dtype=torch.bool)
        tokens[:, 0] = self.n_target + 1  # the start token
        for k, (v, m) in enumerate(views):
            tokens[k, 1 : 1 + len(v)] = v
            masked[k, 1 : 1 + len(v)] = m
        device = tables["target"].device
        tokens, masked = tokens.to(device), masked.to(device)
        x = self.embed(tables["target"], tokens)
        x = torch.where(masked[..., None], self.mask_vector.expand_as(x), x)
        h = self.encoder(x, tokens)
        last = torch.tensor([len(v) for v, _ in views], device=device)
        return h[torch.arange(len(views), device=device), last]
