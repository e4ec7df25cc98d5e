"""Baseline SASRec (Kang & McAuley 2018): the target sequence alone, ID embeddings, dot-product scores."""

from __future__ import annotations

import torch
from torch import nn

from trainer.models.base import SeqRecModel
from trainer.modules import SequenceEncoder


class SASRec(SeqRecModel):
    def __init__(self, config, data):
        super().__init__(config, data)
        self.items = nn.Embedding(data.n_target + 2, config.hidden, padding_idx=0)
        nn.init.normal_(self.items.weight, std=0.02)
        self.encoder = SequenceEncoder(config.hidden, config.max_len, config.n_blocks, config.n_heads, config.dropout)

    def tables(self) -> dict[str, torch.Tensor]:
        return {"target": self.items.weight}

    def encode(self, batch: dict, tables: dict) -> torch.Tensor:
        return self.encoder(self.embed(tables["target"], batch["t_in"]))
