"""Baseline SASRec (Kang & McAuley 2018): the target sequence alone, ID embeddings, dot-product scores.
With ``semantics = true`` the item table is the sum of the item's semantic views (paper Table 2)."""

from __future__ import annotations

import torch
from torch import nn

from trainer.models.base import SeqRecModel
from trainer.models.semantic import plug_semantics, plugged_contrastive
from trainer.modules import SequenceEncoder


class SASRec(SeqRecModel):
    def __init__(self, config, data, graphs=None):  # graphs: unused (no graph module)
        super().__init__(config, data)
        self.semantics = plug_semantics(config, data, ("target",))
        if self.semantics is None:
            self.items = nn.Embedding(data.n_target + 2, config.hidden, padding_idx=0)
            nn.init.normal_(self.items.weight, std=0.02)
        self.encoder = SequenceEncoder(**config.encoder_args())

    def semantic_parameters(self) -> list[nn.Parameter]:
        return [] if self.semantics is None else self.semantics.semantic_parameters()

    def tables(self) -> dict[str, torch.Tensor]:
        if self.semantics is None:
            return {"target": self.items.weight}
        views = self.semantics.views("target")
        return {"target": self.semantics.item_embeddings("target", views), "views_t": views}

    def encode(self, batch: dict, tables: dict) -> torch.Tensor:
        return self.encoder(self.embed(tables["target"], batch["t_in"]), batch["t_in"])

    def aux_losses(self, parts: list[dict], tables: dict) -> dict[str, torch.Tensor]:
        return plugged_contrastive(self, parts, tables, ("target",))
