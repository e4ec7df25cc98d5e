"""Baseline CD-SASRec (Alharbi & Caragea, ICDSA 2021), as the SemaCDR paper describes it (App. D):
SASRec over the target sequence whose item embeddings get an aggregated source-domain representation
added: the mean of the source items the user interacted with before each target step.

The source item embeddings get an objective of their own, next-item prediction over the user's
source sequence with a source-domain SASRec encoder (the loss of the run, one uniform negative per
step), so what is aggregated is a learnt source representation; without it the source table is
trained only through the target loss and the model scores as plain SASRec (docs/trainer.md).
``source_objective = false`` (config) gives that earlier variant. ``semantics = true`` plugs in the
multi-view semantic component for both tables (paper Table 2).
"""

from __future__ import annotations

import torch
from torch import nn

from trainer.losses import bce_loss, bpr_loss
from trainer.models.base import SeqRecModel
from trainer.models.semantic import plug_semantics, plugged_contrastive
from trainer.modules import SequenceEncoder


class CDSASRec(SeqRecModel):
    def __init__(self, config, data, graphs=None):  # graphs: unused (no graph module)
        super().__init__(config, data)
        self.semantics = plug_semantics(config, data, ("target", "source"))
        if self.semantics is None:
            self.items = nn.Embedding(data.n_target + 2, config.hidden, padding_idx=0)
            self.source_items = nn.Embedding(data.n_source + 2, config.hidden, padding_idx=0)
            nn.init.normal_(self.items.weight, std=0.02)
            nn.init.normal_(self.source_items.weight, std=0.02)
        self.encoder = SequenceEncoder(**config.encoder_args())
        self.source_encoder = SequenceEncoder(**config.encoder_args()) if config.source_objective else None

    def semantic_parameters(self) -> list[nn.Parameter]:
        return [] if self.semantics is None else self.semantics.semantic_parameters()

    def tables(self) -> dict[str, torch.Tensor]:
        if self.semantics is None:
            return {"target": self.items.weight, "source": self.source_items.weight}
        views_t, views_s = self.semantics.views("target"), self.semantics.views("source")
        return {
            "target": self.semantics.item_embeddings("target", views_t),
            "views_t": views_t,
            "source": self.semantics.item_embeddings("source", views_s),
            "views_s": views_s,
        }

    def encode(self, batch: dict, tables: dict) -> torch.Tensor:
        x = self.embed(tables["target"], batch["t_in"])
        src = self.embed(tables["source"], batch["s_in"])  # (B, Ls, d), start token first
        # mean over the source items strictly before each target step (the start token always counts)
        mask = (batch["s_time"][:, None, :] < batch["t_time"][:, :, None]) & (batch["s_in"] > 0)[:, None, :]
        w = mask.float()
        agg = (w @ src) / w.sum(-1, keepdim=True).clamp(min=1.0)
        return self.encoder(x + agg, batch["t_in"])

    def aux_losses(self, parts: list[dict], tables: dict) -> dict[str, torch.Tensor]:
        losses = [x for x in (self._source_objective(p, tables) for p in parts) if x is not None]
        out = {"source_next_item": torch.cat(losses).mean()} if losses else {}
        return out | plugged_contrastive(self, parts, tables, ("target", "source"))

    def _source_objective(self, batch: dict, tables: dict) -> torch.Tensor | None:
        """Per source step with a successor: the loss of predicting it from the source prefix."""
        if self.source_encoder is None or batch["s_in"].shape[1] < 2:
            return None
        s_in = batch["s_in"]
        states = self.source_encoder(self.embed(tables["source"], s_in), s_in)[:, :-1]
        target = s_in[:, 1:]
        valid = target > 0
        if not valid.any():
            return None
        z = states[valid]
        pos_ids = target[valid]
        neg_ids = torch.randint(1, self.n_source + 1, pos_ids.shape, device=pos_ids.device)
        table = tables["source"]
        pos = self.scorer.pairs(z, table[pos_ids])
        neg = self.scorer.pairs(z, table[neg_ids])
        return bpr_loss(pos, neg) if self.config.loss_kind == "bpr" else bce_loss(pos, neg)
