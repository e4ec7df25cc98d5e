"""Baseline C2DSR (Cao et al., "Contrastive Cross-Domain Sequential Recommendation", CIKM 2022):
graph-smoothed item tables, three sequence encoders and a contrastive cross-domain infomax.

- Item graphs (inter-sequence relations): a mixed graph over both domains' items and one graph per
  domain, an edge between items that follow each other in a training sequence (mixed, or within the
  domain); each table is e + mean(e, A e), A the symmetric-normalised adjacency with self-loops.
- Encoders (intra-sequence relations): the mixed sequence, the source and the target sequence, each
  a causal Transformer. The state of a target step is the mixed state before it plus the target
  state (the paper's cross-domain + single-domain preference); it is scored against the target table
  with the table's loss. The mixed state alone is trained on the same step as well (the paper's
  shared objective, ``c2dsr_shared``).
- Infomax (the paper's L_cl): a bilinear discriminator scores (single-domain user representation,
  cross-domain representation) pairs, positive for the user's real mixed sequence and negative for a
  corrupted one -- the other domain's items of the mixed sequence replaced by random items of that
  domain (``corrupt``). X side: the source encoder's mean state against the real / corrupted mixed
  states at the target positions; Y side symmetrically. BCE, each side's real and corrupted term summed.

Weights: the official objective is lambda * (rec terms) + (1 - lambda) * infomax with lambda = 0.7
(``c2dsr_lambda``); here the recommendation term keeps weight 1 as in every row of the table, so the
shared term weighs 1 and the infomax (1 - lambda) / lambda.

Checked against the official code, github.com/cjx96/C2DSR at f23f18a (``model/C2DSR.py``,
``model/trainer.py``, ``utils/GraphMaker.py``, ``utils/loader.py``). Differences, each chosen for the
harness's one protocol: the official graphs link each item to its successor only and row-normalise
(an item aggregates the items that followed it, so in training a step's input carries its own
positive); here the edges are symmetric. The official GCN layer declares a weight matrix it never
applies (A e + b); here A e without the bias. The official model also predicts source-domain items
(it is trained for both directions at once, with linear output layers over 999 sampled negatives);
here one run has one target domain, scored against item tables like every other row.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainer.graphs import _pairs_chain, normalized_adjacency
from trainer.kernels import sparse_matmul
from trainer.models.base import SeqRecModel
from trainer.modules import SequenceEncoder


def corrupt(m_in: torch.Tensor, n_target: int, n_source: int, keep: str) -> torch.Tensor:
    """The mixed tokens with every item of the other domain than ``keep`` ("target" | "source")
    replaced by a uniformly drawn item of that same domain; ``keep``'s items, padding and the start
    token stay. Mixed ids: 1..n_target target items, n_target + 1..n_target + n_source source items."""
    is_target = (m_in >= 1) & (m_in <= n_target)
    is_source = (m_in > n_target) & (m_in <= n_target + n_source)
    out = m_in.clone()
    if keep == "target":
        draw = torch.randint(1, n_source + 1, m_in.shape, device=m_in.device) + n_target
        return torch.where(is_source, draw, out)
    draw = torch.randint(1, n_target + 1, m_in.shape, device=m_in.device)
    return torch.where(is_target, draw, out)


def _real_vs_fake(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Per user: BCE of the discriminator calling the real pair real and the corrupted pair corrupted."""
    bce = F.binary_cross_entropy_with_logits
    return bce(real, torch.ones_like(real), reduction="none") + bce(
        fake, torch.zeros_like(fake), reduction="none"
    )


def chain_graph(seqs: list[np.ndarray], n_nodes: int) -> torch.Tensor:
    rows, cols = _pairs_chain(seqs)
    return normalized_adjacency(rows, cols, n_nodes)


class C2DSR(SeqRecModel):
    def __init__(self, config, data, graphs=None):  # graphs: its own (below)
        super().__init__(config, data)
        nt, ns, d = data.n_target, data.n_source, config.hidden
        self.items = nn.Embedding(nt + 2, d, padding_idx=0)
        self.source_items = nn.Embedding(ns + 2, d, padding_idx=0)
        self.mixed_items = nn.Embedding(nt + ns + 2, d, padding_idx=0)
        for table in (self.items, self.source_items, self.mixed_items):
            nn.init.normal_(table.weight, std=0.02)
        windows = [np.append(r.m_in[1:], r.t_pos[-1]) for r in data.train]  # each training window, whole
        self.graphs = {
            "target": chain_graph(data.target_seqs, nt + 2),
            "source": chain_graph(data.source_seqs, ns + 2),
            "mixed": chain_graph(windows, nt + ns + 2),
        }
        enc = config.encoder_args()
        self.enc_mixed, self.enc_source, self.enc_target = (SequenceEncoder(**enc) for _ in range(3))
        self.disc_x, self.disc_y = nn.Bilinear(d, d, 1), nn.Bilinear(d, d, 1)

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        self.graphs = {k: v.to(self.items.weight.device) for k, v in self.graphs.items()}
        return out

    def tables(self) -> dict[str, torch.Tensor]:
        def smooth(name: str, e: torch.Tensor) -> torch.Tensor:
            return e + (e + sparse_matmul(self.graphs[name], e)) / 2

        return {
            "target": smooth("target", self.items.weight),
            "source": smooth("source", self.source_items.weight),
            "mixed": smooth("mixed", self.mixed_items.weight),
        }

    def _mixed_states(self, tokens: torch.Tensor, tables: dict) -> torch.Tensor:
        return self.enc_mixed(self.embed(tables["mixed"], tokens), tokens)

    def _preferences(self, batch: dict, tables: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(cross-domain, single-domain) states per target step: the mixed state before the step, the
        target state."""
        h_all = self._mixed_states(batch["m_in"], tables)
        idx = batch["t_time"].clamp(max=h_all.shape[1] - 1)
        h_m = torch.gather(h_all, 1, idx[:, :, None].expand(-1, -1, h_all.shape[-1]))
        h_t = self.enc_target(self.embed(tables["target"], batch["t_in"]), batch["t_in"])
        if self.training:  # the infomax of the same step reads them (aux_losses pops them)
            batch["_c2dsr_states"] = (h_all, h_t)
        return h_m, h_t

    def encode(self, batch: dict, tables: dict) -> torch.Tensor:
        h_m, h_t = self._preferences(batch, tables)
        return h_m + h_t

    def _instance_losses(self, batch, tables, items, kind, shared) -> torch.Tensor:
        """Per target step: the loss of the summed preference plus, with ``c2dsr_shared``, the loss of
        the cross-domain state alone (the official shared objective), both under the table's loss."""
        h_m, h_t = self._preferences(batch, tables)
        out = self.state_losses(h_m + h_t, batch, items, kind, shared)
        return out + self.state_losses(h_m, batch, items, kind, shared) if self.config.c2dsr_shared else out

    def aux_losses(self, parts: list[dict], tables: dict) -> dict[str, torch.Tensor]:
        lam = self.config.c2dsr_lambda
        infomax = torch.stack([self._infomax(p, tables) for p in parts]).mean()
        return {"c2dsr_infomax": (1 - lam) / lam * infomax}

    def _infomax(self, batch: dict, tables: dict) -> torch.Tensor:
        """The contrastive cross-domain infomax of one micro-batch (BCE, real vs corrupted)."""
        m_in, nt, ns = batch["m_in"], self.n_target, self.n_source
        t_steps = (batch["t_pos"] > 0).float()  # the mixed states that precede a target item
        s_keys = batch["s_in"] > 0
        s_keys[:, 0] = False  # the source encoder's start state is no item
        s_pos = batch["s_time"].clamp(min=0, max=m_in.shape[1] - 1)  # the mixed state before a source item
        has_source = s_keys.any(1)

        def mean(h, idx, w):  # mean of h at positions idx weighted by w (B, K)
            picked = torch.gather(h, 1, idx[:, :, None].expand(-1, -1, h.shape[-1]))
            return (picked * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp(min=1)

        t_idx = batch["t_time"].clamp(max=m_in.shape[1] - 1)
        if "_c2dsr_states" in batch:  # computed by this step's recommendation loss
            real, h_t = batch.pop("_c2dsr_states")
        else:
            real = self._mixed_states(m_in, tables)
            h_t = self.enc_target(self.embed(tables["target"], batch["t_in"]), batch["t_in"])
        fake_src = self._mixed_states(corrupt(m_in, nt, ns, keep="target"), tables)  # source items random
        fake_tgt = self._mixed_states(corrupt(m_in, nt, ns, keep="source"), tables)  # target items random
        h_s = self.enc_source(self.embed(tables["source"], batch["s_in"]), batch["s_in"])
        r_x = (h_s * s_keys[..., None]).sum(1) / s_keys.sum(1, keepdim=True).clamp(min=1)
        r_y = (h_t * t_steps[..., None]).sum(1) / t_steps.sum(1, keepdim=True).clamp(min=1)
        # X: the source representation agrees with the mixed states at target steps of the real sequence,
        # not of one whose source items were replaced
        x_real = self.disc_x(r_x, mean(real, t_idx, t_steps))
        x_fake = self.disc_x(r_x, mean(fake_src, t_idx, t_steps))
        # Y: the target representation against the mixed states at source steps, target items replaced
        w_s = s_keys.float()
        y_real = self.disc_y(r_y, mean(real, s_pos, w_s))
        y_fake = self.disc_y(r_y, mean(fake_tgt, s_pos, w_s))
        x_loss, y_loss = _real_vs_fake(x_real, x_fake), _real_vs_fake(y_real, y_fake)
        w = has_source.float()[:, None]  # a user without source items has neither side
        return ((x_loss + y_loss) * w).sum() / w.sum().clamp(min=1)
