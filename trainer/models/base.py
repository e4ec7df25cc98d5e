"""What every model of the harness shares: BPR training on target steps (Eq. 13), final states for
evaluation, and scoring against the target item table (Eq. 12)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer.losses import bpr_loss
from trainer.modules import Scorer


class SeqRecModel(nn.Module):
    def __init__(self, config, data):
        super().__init__()
        self.config = config
        self.n_target, self.n_source, self.n_users = data.n_target, data.n_source, data.n_users
        self.scorer = Scorer(config.hidden, config.score)

    # -- to implement ------------------------------------------------------------------------------
    def tables(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def encode(self, batch: dict, tables: dict) -> torch.Tensor:
        """(B, Lt, d): one user state per target step."""
        raise NotImplementedError

    def aux_losses(self, batch: dict, tables: dict) -> dict[str, torch.Tensor]:
        return {}

    def semantic_parameters(self) -> list[nn.Parameter]:
        return []

    # -- shared ------------------------------------------------------------------------------------
    def target_table(self, tables: dict) -> torch.Tensor:
        return tables["target"]

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        """Eq. 14: BPR over every target step with a positive, plus the auxiliary terms."""
        tables = self.tables()
        z = self.encode(batch, tables)
        items = self.target_table(tables)
        valid = batch["t_pos"] > 0
        zs = z[valid]
        pos = self.scorer.pairs(zs, items[batch["t_pos"][valid]])
        neg = self.scorer.pairs(zs, items[batch["t_neg"][valid]])
        bpr = bpr_loss(pos, neg)
        aux = self.aux_losses(batch, tables)
        loss = bpr + sum(aux.values()) if aux else bpr
        return {"loss": loss, "bpr": bpr.detach(), **{k: v.detach() for k, v in aux.items()}}

    def final_states(self, batch: dict, tables: dict) -> torch.Tensor:
        """(B, d): the state after each user's whole history (the ``last`` target state)."""
        z = self.encode(batch, tables)
        return z[torch.arange(z.shape[0], device=z.device), batch["last"]]

    @staticmethod
    def embed(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, table)
