"""Baseline CD-SASRec (Alharbi & Caragea 2021): SASRec over the target sequence whose item
embeddings get the aggregated (mean) source-domain representation of what the user did in the
source domain before each step added to them."""

from __future__ import annotations

import torch
from torch import nn

from trainer.models.base import SeqRecModel
from trainer.modules import SequenceEncoder


class CDSASRec(SeqRecModel):
    def __init__(self, config, data):
        super().__init__(config, data)
        self.items = nn.Embedding(data.n_target + 2, config.hidden, padding_idx=0)
        self.source_items = nn.Embedding(data.n_source + 2, config.hidden, padding_idx=0)
        nn.init.normal_(self.items.weight, std=0.02)
        nn.init.normal_(self.source_items.weight, std=0.02)
        self.encoder = SequenceEncoder(config.hidden, config.max_len, config.n_blocks, config.n_heads, config.dropout)

    def tables(self) -> dict[str, torch.Tensor]:
        return {"target": self.items.weight, "source": self.source_items.weight}

    def encode(self, batch: dict, tables: dict) -> torch.Tensor:
        x = self.embed(tables["target"], batch["t_in"])
        src = self.embed(tables["source"], batch["s_in"])  # (B, Ls, d), start token first
        # mean over the source items strictly before each target step (the start token always counts)
        mask = (batch["s_time"][:, None, :] < batch["t_time"][:, :, None]) & (batch["s_in"] > 0)[:, None, :]
        w = mask.float()
        agg = (w @ src) / w.sum(-1, keepdim=True).clamp(min=1.0)
        return self.encoder(x + agg)
