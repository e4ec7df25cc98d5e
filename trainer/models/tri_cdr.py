"""Baseline Tri-CDR (Ma et al., "Triple Sequence Learning for Cross-domain Recommendation", TOIS 2024):
source, target and mixed sequences, a triple cross-domain attention, and triple contrastive learning.

- Three encoders: the mixed, the source and the target sequence, each a causal Transformer over its
  own item table (plus, with ``semantics = true``, the multi-view semantic component on the target and
  source tables: paper Table 2).
- Triple cross-domain attention (TCA): for each target step, the target state is the query of an
  attention over (a) the mixed states before the step, (b) the source states before it, (c) the target
  states up to it. Scores by a DIN-style MLP of [key, query, key * query, query - key, the mean mixed
  state] (5d -> 80 -> 40 -> 1, PReLU); the three attended vectors are concatenated and mapped to the
  user state (3d -> d, LeakyReLU, d -> d), which is scored against the target table.
- Triple contrastive learning (TCL), on each user's last training step, after a projection head per
  sequence (d -> d, ReLU, d -> d): the coarse-grained term, NT-Xent (tau = 0.1) of each pair of
  mixed / source / target representations averaged with equal rates (``tricdr_cl_weight`` = 1); the
  fine-grained term, a triplet margin loss with the source representation as anchor, the mixed as
  positive and the target as negative (margin 1, ``tricdr_triplet_weight`` = 1): the mixed sequence,
  which holds both, sits between the two single-domain ones.

Checked against the official code, github.com/hulkima/Tri-CDR at 2e214cd (``model.py``,
``Tri_CDR.py``): the attention MLP and its inputs, the fusion MLP, the projection heads, NT-Xent with
tau 0.1 and equal rates, ``TripletMarginLoss(source, mix, target)`` with margin 1, both weights 1.
Differences, for the harness's one protocol: the official code scores by cosine x 5 with BCE over one
negative and selects its epoch on the test split; here the table's score, loss, negatives and
validation-split early stopping, like every row.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainer.models.base import SeqRecModel
from trainer.models.cl4srec import nt_xent
from trainer.models.semantic import plug_semantics, plugged_contrastive
from trainer.modules import SequenceEncoder


def nt_xent_cosine(a: torch.Tensor, b: torch.Tensor, tau: float) -> torch.Tensor:
    """NT-Xent over cosine similarity (CL4SRec's ``nt_xent`` on unit vectors)."""
    return nt_xent(F.normalize(a, dim=-1), F.normalize(b, dim=-1), tau)


def head(d: int) -> nn.Module:
    return nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d))


class TargetAttention(nn.Module):
    """TCA's attention: one pooled vector per (user, target step) over allowed keys."""

    def __init__(self, d: int):
        super().__init__()
        # the first layer of MLP([k, q, k*q, q-k, m]) in parts, W1 k + W2 q + W3 (k*q) + W4 (q-k) + W5 m
        # = (W1-W4) k + (W2+W4) q + W3 (k*q) + W5 m: the same function, without a (B, T, K, 5d) input
        self.key, self.query, self.product, self.mixed = (
            nn.Linear(d, 80, bias=b) for b in (True, False, False, False)
        )
        self.rest = nn.Sequential(nn.PReLU(), nn.Linear(80, 40), nn.PReLU(), nn.Linear(40, 1))

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, allowed: torch.Tensor, m: torch.Tensor
    ) -> torch.Tensor:
        """q (B, T, d), k (B, K, d), allowed (B, T, K), m (B, T, d) the mean mixed state -> (B, T, d)."""
        first = (
            self.key(k)[:, None]
            + (self.query(q) + self.mixed(m))[:, :, None]
            + torch.einsum("bkd,btd,od->btko", k, q, self.product.weight)
        )
        scores = self.rest(first).squeeze(-1).masked_fill(~allowed, float("-inf"))
        weights = torch.softmax(scores, -1).nan_to_num(0.0)  # a step with no allowed key pools nothing
        return weights @ k


class TriCDR(SeqRecModel):
    def __init__(self, config, data, graphs=None):  # graphs: unused (no graph module)
        super().__init__(config, data)
        nt, ns, d = data.n_target, data.n_source, config.hidden
        self.semantics = plug_semantics(config, data, ("target", "source"))
        if self.semantics is None:
            self.items = nn.Embedding(nt + 2, d, padding_idx=0)
            self.source_items = nn.Embedding(ns + 2, d, padding_idx=0)
            nn.init.normal_(self.items.weight, std=0.02)
            nn.init.normal_(self.source_items.weight, std=0.02)
        self.mixed_items = nn.Embedding(nt + ns + 2, d, padding_idx=0)
        nn.init.normal_(self.mixed_items.weight, std=0.02)
        enc = config.encoder_args()
        self.enc_mixed, self.enc_source, self.enc_target = (SequenceEncoder(**enc) for _ in range(3))
        self.attention = TargetAttention(d)
        self.fuse = nn.Sequential(nn.Linear(3 * d, d), nn.LeakyReLU(), nn.Linear(d, d))
        self.heads = nn.ModuleDict({k: head(d) for k in ("mixed", "source", "target")})

    def semantic_parameters(self) -> list[nn.Parameter]:
        return [] if self.semantics is None else self.semantics.semantic_parameters()

    def tables(self) -> dict[str, torch.Tensor]:
        if self.semantics is None:
            return {
                "target": self.items.weight,
                "source": self.source_items.weight,
                "mixed": self.mixed_items.weight,
            }
        views_t, views_s = self.semantics.views("target"), self.semantics.views("source")
        return {
            "target": self.semantics.item_embeddings("target", views_t),
            "source": self.semantics.item_embeddings("source", views_s),
            "mixed": self.mixed_items.weight,
            "views_t": views_t,
            "views_s": views_s,
        }

    def attended(
        self, batch: dict, tables: dict, only: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """TCA: per target step the attended mixed, source and target vectors, each (B, T, d); with
        ``only`` (B,) one step per user, each (B, 1, d) (evaluation reads the last state only)."""
        t_in, s_in, m_in = batch["t_in"], batch["s_in"], batch["m_in"]
        h_t = self.enc_target(self.embed(tables["target"], t_in), t_in)
        h_s = self.enc_source(self.embed(tables["source"], s_in), s_in)
        h_m = self.enc_mixed(self.embed(tables["mixed"], m_in), m_in)
        steps = torch.arange(h_m.shape[1], device=h_m.device)
        # the mixed state at index k has seen the window before item k: allowed up to the step's index
        mixed_ok = (steps[None, None, :] <= batch["t_time"][:, :, None]) & (m_in > 0)[:, None, :]
        source_ok = (batch["s_time"][:, None, :] < batch["t_time"][:, :, None]) & (s_in > 0)[:, None, :]
        t_steps = torch.arange(t_in.shape[1], device=t_in.device)
        target_ok = (t_steps[None, None, :] <= t_steps[None, :, None]) & (t_in > 0)[:, None, :]
        q = h_t
        if only is not None:  # the rows of the asked steps only: the same values, T = 1
            pick = only[:, None]
            q = torch.gather(h_t, 1, pick[..., None].expand(-1, -1, h_t.shape[-1]))
            mixed_ok, source_ok, target_ok = (
                torch.gather(m, 1, pick[..., None].expand(-1, -1, m.shape[-1]))
                for m in (mixed_ok, source_ok, target_ok)
            )
        w = mixed_ok.float()
        mean_mixed = (w @ h_m) / w.sum(-1, keepdim=True).clamp(min=1)
        return {
            "mixed": self.attention(q, h_m, mixed_ok, mean_mixed),
            "source": self.attention(q, h_s, source_ok, mean_mixed),
            "target": self.attention(q, h_t, target_ok, mean_mixed),
        }

    def user_state(self, attended: dict[str, torch.Tensor]) -> torch.Tensor:
        """The fusion MLP over the three attended vectors."""
        return self.fuse(torch.cat([attended["mixed"], attended["source"], attended["target"]], -1))

    def encode(self, batch: dict, tables: dict) -> torch.Tensor:
        a = self.attended(batch, tables)
        return self.user_state(a)

    def final_states(self, batch: dict, tables: dict) -> torch.Tensor:
        """(B, d): the state after each user's whole history, attending for that step only."""
        a = self.attended(batch, tables, only=batch["last"])
        return self.user_state(a)[:, 0]

    def _instance_losses(self, batch, tables, items, kind, shared) -> torch.Tensor:
        a = self.attended(batch, tables)
        z = self.user_state(a)
        last = (batch["t_pos"] > 0).cumsum(1).argmax(1)  # each user's last training step
        rows = torch.arange(z.shape[0], device=z.device)
        # the TCL inputs, read by aux_losses in the same step (popped there)
        batch["_tricdr_last"] = {k: self.heads[k](v[rows, last]) for k, v in a.items()}
        return self.state_losses(z, batch, items, kind, shared)

    def aux_losses(self, parts: list[dict], tables: dict) -> dict[str, torch.Tensor]:
        out = {}
        reps = [p.pop("_tricdr_last") for p in parts if "_tricdr_last" in p]
        if reps:
            mix, src, tgt = (torch.cat([r[k] for r in reps]) for k in ("mixed", "source", "target"))
            out.update(self.triple_contrast(mix, src, tgt))
        return out | plugged_contrastive(self, parts, tables, ("target", "source"))

    def triple_contrast(
        self, mix: torch.Tensor, src: torch.Tensor, tgt: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """TCL over the users of a batch: coarse NT-Xent of the three pairs (equal rates) and the fine
        triplet (anchor source, positive mixed, negative target)."""
        tau, cfg = self.config.tricdr_tau, self.config
        coarse = (
            nt_xent_cosine(mix, src, tau) + nt_xent_cosine(mix, tgt, tau) + nt_xent_cosine(src, tgt, tau)
        ) / 3
        fine = F.triplet_margin_loss(src, mix, tgt, margin=cfg.tricdr_margin)
        return {
            "tricdr_coarse": cfg.tricdr_cl_weight * coarse,
            "tricdr_triplet": cfg.tricdr_triplet_weight * fine,
        }
