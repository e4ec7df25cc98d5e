"""SemaCDR (§2.3-2.6): multi-view semantics, graph collaborative learning, three sequence encoders,
cross-attention fusion and adaptive fusion, trained with BPR + lambda * InfoNCE."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from trainer.batch_rows import renumber, touched_rows
from trainer.fast_encoders import grouped_forward, stack_weights
from trainer.graphs import WindowCounts
from trainer.models.base import SeqRecModel
from trainer.models.semantic import MultiViewSemantics, batch_item_ids, contrastive_term
from trainer.modules import GCN, AdaptiveFusion, CrossAttentionFusion, SequenceEncoder


class SemaCDR(SeqRecModel):
    def __init__(self, config, data, graphs: dict[str, torch.Tensor]):
        super().__init__(config, data)
        d = config.hidden
        self.graphs = dict(graphs)  # sparse, kept off the buffers (DDP cannot broadcast sparse tensors)
        self.semantics = MultiViewSemantics(
            d,
            {
                "target": (
                    data.n_target + 2,
                    data.vectors_target if config.use_inner else None,
                    data.labels_target if config.use_agnostic else None,
                ),
                "source": (
                    data.n_source + 2,
                    data.vectors_source if config.use_inner else None,
                    data.labels_source if config.use_agnostic else None,
                ),
            },
            n_subcategories=data.n_subcategories,
            n_categories=data.n_categories,
            integration=config.agnostic_integration,
        )
        self.users = nn.Embedding(data.n_users, d)
        nn.init.normal_(self.users.weight, std=0.02)
        self.mixed_start = nn.Parameter(torch.randn(1, d) * 0.02)
        res = config.gcn_residual
        self.gcn_source, self.gcn_target = GCN(d, res), GCN(d, res)
        self.use_mixed_graph = "mixed" in graphs
        if self.use_mixed_graph:
            self.gcn_mixed = GCN(d, res)
        enc = config.encoder_args()
        self.enc_source, self.enc_target, self.enc_mixed = (
            SequenceEncoder(**enc),
            SequenceEncoder(**enc),
            SequenceEncoder(**enc),
        )
        self.cross = (
            None
            if config.has("no-cross-domain-fusion")
            else CrossAttentionFusion(d, config.n_heads, config.dropout)
        )
        self.fusion = AdaptiveFusion(3 if config.fusion_user else 2, average=config.has("average-fusion"))
        # training steps see the target graph without their own users' windows (docs/trainer.md)
        self.window_counts = (
            WindowCounts(data.target_seqs, data.n_target + 2)
            if config.graph_shortcut == "leave-batch-out"
            else None
        )
        self.contrastive = (config.use_inner or config.use_agnostic) and not config.has("no-contrastive")

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        device = self.users.weight.device
        self.graphs = {k: v.to(device) for k, v in self.graphs.items()}
        return out

    def semantic_parameters(self) -> list[nn.Parameter]:
        return self.semantics.semantic_parameters()

    def tables(self) -> dict[str, torch.Tensor]:
        """Every row of the item and user tables after the graph convolutions (evaluation)."""
        return self._tables()

    def batch_tables(self, parts: list[dict]) -> tuple[dict[str, torch.Tensor], list[dict]]:
        """Only the rows a training batch reads, convolved (the same values as in ``tables``), and the
        batch's ids renumbered into them: no step builds or back-propagates through full-size tables
        per micro-batch. The semantic views stay whole (Eq. 3 reads them by item id)."""
        if not self.use_mixed_graph:  # simple-graph builds its mixed table from the item tables
            return self._tables(), parts
        rows = touched_rows(parts, self.n_target, every_target=self.config.loss_kind == "full")
        return self._tables(rows, self.batch_windows(parts)), renumber(parts, rows)

    def batch_windows(self, parts: list[dict]) -> list[np.ndarray] | None:
        """The training windows of a batch's users (their target items), for ``leave-batch-out``."""
        if self.window_counts is None:
            return None
        return [row[row > 0] for p in parts for row in p["t_seen"].cpu().numpy()]

    def target_table(self, tables: dict) -> torch.Tensor:
        """The table items are scored against (Eq. 12): after the graph layer, or before it (score-base)."""
        return tables["target_base" if self.config.graph_shortcut == "score-base" else "target"]

    def _tables(
        self, rows: dict[str, torch.Tensor] | None = None, windows: list[np.ndarray] | None = None
    ) -> dict[str, torch.Tensor]:
        nt, ns = self.n_target, self.n_source
        rows = rows or {}
        views_t = self.semantics.views("target")
        views_s = self.semantics.views("source")
        base_t = self.semantics.item_embeddings("target", views_t)  # §2.3.1-2.3.2 views, summed
        base_s = self.semantics.item_embeddings("source", views_s)
        t_rows = rows.get("target")
        without = None
        if windows is not None:  # the target graph less the edges only this batch's windows hold
            asked = self.window_counts.rows_without(windows, t_rows.cpu().numpy())
            without = tuple(m.to(base_t.device) for m in asked)
        e_t = self.gcn_target(self.graphs["target"], base_t, t_rows, without)  # Eq. 5
        e_s = self.gcn_source(self.graphs["source"], base_s, rows.get("source"))  # Eq. 4
        if self.use_mixed_graph:
            nodes = torch.cat([self.users.weight, base_t[: nt + 1], base_s[1 : ns + 1], self.mixed_start])
            if rows:  # the batch's users, then its mixed items (node ids follow the users)
                n_users = len(rows["users"])
                node_rows = torch.cat([rows["users"], rows["mixed_items"] + self.n_users])
            else:
                n_users, node_rows = self.n_users, None
            out = self.gcn_mixed(self.graphs["mixed"], nodes, node_rows)  # Eq. 6
            users, mixed = out[:n_users], out[n_users:]
        else:  # simple-graph: no user-item graph; users are their ID embedding
            users = self.users.weight
            mixed = torch.cat([e_t[: nt + 1], e_s[1 : ns + 1], self.mixed_start])
        out = {
            "target": e_t,
            "source": e_s,
            "mixed": mixed,
            "users": users,
            "views_t": views_t,
            "views_s": views_s,
        }
        if self.config.graph_shortcut == "score-base":  # the table before the graph layer is scored
            out["target_base"] = base_t if t_rows is None else base_t[t_rows]
        if self.config.encoders == "grouped":  # stacked once, read by every micro-batch of the step
            out["encoders"] = stack_weights(self.encoder_group())
        return out

    def encoder_group(self) -> list:
        return [self.enc_target, self.enc_mixed] + ([self.enc_source] if self.cross is not None else [])

    def encode(self, batch: dict, tables: dict) -> torch.Tensor:
        x_t = self.embed(tables["target"], batch["t_in"])
        x_m = self.embed(tables["mixed"], batch["m_in"])
        x_s = self.embed(tables["source"], batch["s_in"]) if self.cross is not None else None
        if "encoders" in tables:  # Eqs. 7-9 as one batched computation (trainer/fast_encoders.py)
            xs, toks = [x_t, x_m], [batch["t_in"], batch["m_in"]]
            if x_s is not None:
                xs, toks = [*xs, x_s], [*toks, batch["s_in"]]
            h_t, h_m, *h_s = grouped_forward(self.encoder_group(), tables["encoders"], xs, toks)
            if x_s is not None:
                h_t = self.cross(h_t, h_s[0], self.cross_mask(batch))  # Eq. 10
        else:
            h_t = self.enc_target(x_t, batch["t_in"])  # Eq. 8
            if x_s is not None:
                h_s = self.enc_source(x_s, batch["s_in"])  # Eq. 7
                h_t = self.cross(h_t, h_s, self.cross_mask(batch))  # Eq. 10
            h_m = self.enc_mixed(x_m, batch["m_in"])  # Eq. 9
        idx = batch["t_time"].clamp(max=h_m.shape[1] - 1)
        m_state = torch.gather(h_m, 1, idx[:, :, None].expand(-1, -1, h_m.shape[-1]))
        if not self.config.fusion_user:
            return self.fusion(h_t, m_state)  # Eq. 11 without the user embedding
        u = tables["users"][batch["user"]][:, None, :].expand_as(h_t)
        return self.fusion(h_t, m_state, u)  # Eq. 11

    @staticmethod
    def cross_mask(batch: dict) -> torch.Tensor:
        """(B, Lt, Ls): a target step attends to the source items before it (Eq. 10)."""
        return (batch["s_time"][:, None, :] < batch["t_time"][:, :, None]) & (batch["s_in"] > 0)[:, None, :]

    def aux_losses(self, parts: list[dict], tables: dict) -> dict[str, torch.Tensor]:
        if not self.contrastive:
            return {}
        ids = batch_item_ids(parts, ("target", "source"))
        views = {"target": tables["views_t"], "source": tables["views_s"]}
        n_items = {"target": self.n_target, "source": self.n_source}
        return {"contrastive": contrastive_term(self.semantics, views, ids, n_items, self.config)}
