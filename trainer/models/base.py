"""What every model of the harness shares: training on target steps (BPR, Eq. 13, or BCE / sampled softmax), final states for
evaluation, and scoring against the target item table (Eq. 12)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer.losses import bce_loss, bpr_loss, full_softmax_loss, sampled_softmax_loss
from trainer.modules import Scorer


class SeqRecModel(nn.Module):
    def __init__(self, config, data):
        super().__init__()
        self.config = config
        self.n_target, self.n_source, self.n_users = data.n_target, data.n_source, data.n_users
        self.scorer = Scorer(config.hidden, config.score)
        # instance normalisation: the expected number of target steps in a batch (set by the loop from
        # the data); the loss is sum / this constant, so a step weighs the same in any batch
        self.steps_per_batch: float | None = None

    # -- to implement ------------------------------------------------------------------------------
    def tables(self) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def batch_tables(self, parts: list[dict]) -> tuple[dict[str, torch.Tensor], list[dict]]:
        """The tables a training batch reads and the batch indexed into them (default: every row, the
        batch as it is; a model may return only the rows the batch reads, with the ids renumbered)."""
        return self.tables(), parts

    def encode(self, batch: dict, tables: dict) -> torch.Tensor:
        """(B, Lt, d): one user state per target step."""
        raise NotImplementedError

    def aux_losses(self, parts: list[dict], tables: dict) -> dict[str, torch.Tensor]:
        """Terms beside the recommendation loss, over the micro-batches ``parts`` of one batch."""
        return {}

    def semantic_parameters(self) -> list[nn.Parameter]:
        return []

    # -- shared ------------------------------------------------------------------------------------
    def target_table(self, tables: dict) -> torch.Tensor:
        return tables["target"]

    def forward(self, batch: dict | list[dict]) -> dict[str, torch.Tensor]:
        """Eq. 14: the recommendation loss over every target step with a positive, plus the auxiliary
        terms. ``batch`` may be a list of micro-batches of one batch (users sorted by length, less
        padding): the item tables (graph convolutions) are computed once, and with per-instance
        normalisation the loss and its gradient equal those of the batch in one piece."""
        parts = batch if isinstance(batch, list) else [batch]
        tables, local = self.batch_tables(parts)
        items = self.target_table(tables)
        kind = self.config.loss_kind
        shared = None
        if kind == "softmax":  # every instance against all negatives drawn for the batch
            ids = torch.unique(torch.cat([p["t_neg"][p["t_pos"] > 0].reshape(-1) for p in local]))
            shared = (items[ids], ids)
        per = torch.cat([self._instance_losses(p, tables, items, kind, shared) for p in local])
        if self.config.loss_norm == "instance" and self.steps_per_batch:
            rec = per.sum() / self.steps_per_batch
        else:
            rec = per.mean() if per.numel() else per.sum()
        aux = self.aux_losses(parts, tables)
        loss = rec + sum(aux.values()) if aux else rec
        return {"loss": loss, kind: rec.detach(), **{k: v.detach() for k, v in aux.items()}}

    def _instance_losses(
        self, batch: dict, tables: dict, items: torch.Tensor, kind: str, shared: tuple | None
    ) -> torch.Tensor:
        return self.state_losses(self.encode(batch, tables), batch, items, kind, shared)

    def state_losses(
        self, z: torch.Tensor, batch: dict, items: torch.Tensor, kind: str, shared: tuple | None
    ) -> torch.Tensor:
        """The recommendation loss of every target step with a positive, from its state in ``z``."""
        valid = batch["t_pos"] > 0
        zs = z[valid]
        pos_ids = batch["t_pos"][valid]
        if kind == "full":  # the table's rows 1..n_target are the items (0: padding, n_target + 1: start)
            return full_softmax_loss(self.scorer.all, zs, items[1 : self.n_target + 1], pos_ids)
        pos = self.scorer.pairs(zs, items[pos_ids])
        if kind == "softmax":
            table, ids = shared
            same = (
                ids[None, :] == pos_ids[:, None] if self.config.softmax_pool == "exclude-positive" else None
            )
            return sampled_softmax_loss(pos, self.scorer.all(zs, table), same)
        neg_ids = batch["t_neg"][valid]  # (P,) or, with several negatives a step, (P, N)
        states = zs if neg_ids.dim() == 1 else zs[:, None, :]
        neg = self.scorer.pairs(states.expand(*neg_ids.shape, -1), items[neg_ids])
        return bpr_loss(pos, neg) if kind == "bpr" else bce_loss(pos, neg)

    def final_states(self, batch: dict, tables: dict) -> torch.Tensor:
        """(B, d): the state after each user's whole history (the ``last`` target state)."""
        z = self.encode(batch, tables)
        return z[torch.arange(z.shape[0], device=z.device), batch["last"]]

    @staticmethod
    def embed(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx, table)
