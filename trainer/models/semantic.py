"""Multi-view item semantics (§2.3.1-2.3.3), a component any model can take (the paper's Table 2).

Per domain, three views of every item, each ``hidden`` wide:
- ``id``: a trainable identifier embedding;
- ``inner``: the stored sentence embedding of the item's (LLM-enriched) description, projected (§2.3.1);
- ``agnostic``: Eq. 2, learnable subcategory embeddings shared by all domains, mean-pooled within each
  category, integrated across the K categories by concatenation + projection or by the mean.
``contrastive_terms`` is Eq. 3 (InfoNCE, cosine, temperature) over the view pairs that exist: with the
diagonal as the only positive (the paper), or with ``label-groups``, where an item's view is set
against one domain-agnostic vector per distinct label set in the step, its own group's the positive,
so items with the same labels (whose agnostic views are identical) are never each other's negatives.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trainer.graphs import csr_matrix
from trainer.kernels import sparse_matmul


def _pooling_matrix(labels: np.ndarray, n_sub: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse (rows*K, n_sub+1) matrix that averages the subcategory embeddings of each (item, category),
    and its transpose (both CSR, for ``kernels.sparse_matmul``)."""
    n, k, s = labels.shape
    flat = labels.reshape(n * k, s)
    counts = (flat > 0).sum(1)
    r, c = np.nonzero(flat > 0)  # row-major: r sorted
    sub = flat[r, c].astype(np.int64)
    vals = 1.0 / counts[r]
    order = np.lexsort((r, sub))
    return (
        csr_matrix(r, sub, vals, (n * k, n_sub + 1)),
        csr_matrix(sub[order], r[order], vals[order], (n_sub + 1, n * k)),
    )


class MultiViewSemantics(nn.Module):
    """Item views for named domains; ``domains`` maps a name to (rows, vectors or None, labels or None)."""

    def __init__(
        self,
        hidden: int,
        domains: dict[str, tuple[int, np.ndarray | None, np.ndarray | None]],
        n_subcategories: int = 0,
        n_categories: int = 0,
        integration: str = "concat",
    ):
        super().__init__()
        self.hidden, self.integration, self.n_categories = hidden, integration, n_categories
        self.ids = nn.ModuleDict()
        self.inner = nn.ModuleDict()
        self._pool: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        uses_labels = False
        for name, (rows, vectors, labels) in domains.items():
            emb = nn.Embedding(rows, hidden, padding_idx=0)
            nn.init.normal_(emb.weight, std=0.02)
            with torch.no_grad():
                emb.weight[0].zero_()
            self.ids[name] = emb
            if vectors is not None:
                self.register_buffer(
                    f"vectors_{name}", torch.from_numpy(np.ascontiguousarray(vectors)), persistent=False
                )
                self.register_buffer(
                    f"has_vector_{name}", torch.from_numpy(np.abs(vectors).sum(1) > 0), persistent=False
                )
                self.inner[name] = nn.Linear(vectors.shape[1], hidden)
            if labels is not None:
                uses_labels = True
                # Eq. 2 is computed once per distinct label array (a few hundred), then read by item:
                # the same rows as computing it per item, at a fraction of the cost (trainer.md "Cost")
                sets, inverse = np.unique(labels.reshape(rows, -1), axis=0, return_inverse=True)
                self._pool[name] = _pooling_matrix(
                    sets.reshape(len(sets), *labels.shape[1:]), n_subcategories
                )
                self.register_buffer(
                    f"label_set_{name}",
                    torch.from_numpy(inverse.reshape(-1).astype(np.int64)),
                    persistent=False,
                )
                self.register_buffer(
                    f"has_label_{name}", torch.from_numpy((labels > 0).any(axis=(1, 2))), persistent=False
                )
                self.register_buffer(f"label_group_{name}", label_groups(labels), persistent=False)
        if uses_labels:
            # Eq. 2: subcategory embeddings, shared across domains (the transferable part)
            self.subcategories = nn.Embedding(n_subcategories + 1, hidden, padding_idx=0)
            nn.init.normal_(self.subcategories.weight, std=0.02)
            if integration == "concat":
                self.integrate = nn.Linear(n_categories * hidden, hidden)

    def _apply(
        self, fn, *args, **kwargs
    ):  # sparse pooling matrices are not buffers (DDP cannot broadcast them)
        out = super()._apply(fn, *args, **kwargs)
        device = self.ids[next(iter(self.ids))].weight.device
        self._pool = {k: (a.to(device), a_t.to(device)) for k, (a, a_t) in self._pool.items()}
        return out

    def has_inner(self, domain: str) -> bool:
        return domain in self.inner

    def has_agnostic(self, domain: str) -> bool:
        return domain in self._pool

    def semantic_parameters(self) -> list[nn.Parameter]:
        """The parameters trained with the smaller semantic learning rate (App. E)."""
        params = [p for m in self.inner.values() for p in m.parameters()]
        if hasattr(self, "subcategories"):
            params += list(self.subcategories.parameters())
        if hasattr(self, "integrate"):
            params += list(self.integrate.parameters())
        return params

    def views(self, domain: str) -> dict[str, torch.Tensor]:
        """Every view of every item row of ``domain``: name -> (rows, hidden)."""
        out = {"id": self.ids[domain].weight}
        if domain in self.inner:  # §2.3.1 inner-domain semantics
            out["inner"] = self.inner[domain](getattr(self, f"vectors_{domain}"))
        if domain in self._pool:  # Eq. 2 domain-agnostic semantics, per label set, then per item
            pool, pool_t = self._pool[domain]
            sets = pool.shape[0] // self.n_categories
            pooled = sparse_matmul(pool, self.subcategories.weight, pool_t)
            pooled = pooled.view(sets, self.n_categories, self.hidden)
            if self.integration == "concat":
                agnostic = self.integrate(pooled.reshape(sets, -1))
            else:
                agnostic = pooled.mean(1)
            out["agnostic"] = agnostic[getattr(self, f"label_set_{domain}")]
        return out

    def item_embeddings(self, domain: str, views: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The initial node features of §2.3.4: the sum of the item's views."""
        views = views if views is not None else self.views(domain)
        return sum(views.values())

    def contrastive_terms(
        self,
        domain: str,
        items: torch.Tensor,
        tau: float,
        views: dict[str, torch.Tensor] | None = None,
        positives: str = "diagonal",
    ) -> list[torch.Tensor]:
        """Eq. 3 for one domain, one term per view pair: each domain-specific view of an item is pulled
        to the item's domain-agnostic view and pushed from the other items' (InfoNCE); with
        ``positives = "label-groups"`` the others are the step's other label sets, not other items."""
        views = views if views is not None else self.views(domain)
        pairs = []
        if "agnostic" in views:
            pairs = [("id", "agnostic")] + ([("inner", "agnostic")] if "inner" in views else [])
        elif "inner" in views:
            pairs = [("id", "inner")]
        terms = []
        for a, b in pairs:
            keep = torch.ones_like(items, dtype=torch.bool)
            for name in (a, b):
                if name == "agnostic":
                    keep &= getattr(self, f"has_label_{domain}")[items]
                if name == "inner":
                    keep &= getattr(self, f"has_vector_{domain}")[items]
            idx = items[keep]
            if idx.numel() < 2:
                continue
            za = F.normalize(views[a][idx], dim=-1)
            zb = F.normalize(views[b][idx], dim=-1)
            target = torch.arange(idx.numel(), device=idx.device)
            if positives == "label-groups" and b == "agnostic":
                groups, target = torch.unique(
                    getattr(self, f"label_group_{domain}")[idx], return_inverse=True
                )
                if groups.numel() < 2:
                    continue
                order = torch.arange(idx.numel(), device=idx.device)
                first = torch.full_like(groups, idx.numel()).scatter_reduce_(0, target, order, "amin")
                zb = zb[first]  # one agnostic vector per label set (identical within it)
            terms.append(F.cross_entropy(za @ zb.T / tau, target))
        return terms


def label_groups(labels: np.ndarray) -> torch.Tensor:
    """(rows,) the index of each item's label set: items with the same subcategories in every category
    share one (whatever the order of the labels within a category)."""
    flat = np.sort(labels, axis=2).reshape(labels.shape[0], -1)
    _, inverse = np.unique(flat, axis=0, return_inverse=True)
    return torch.from_numpy(inverse.reshape(-1).astype(np.int64))


def batch_item_ids(parts: list[dict], domains: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The item ids a batch (all its micro-batches) touches, per domain, for Eq. 3."""
    out = {}
    if "target" in domains:
        out["target"] = torch.cat([p[k].flatten() for p in parts for k in ("t_pos", "t_in")])
    if "source" in domains:
        out["source"] = torch.cat([p["s_in"].flatten() for p in parts])
    return out


def contrastive_term(
    semantics: MultiViewSemantics,
    views: dict[str, dict[str, torch.Tensor]],
    ids: dict[str, torch.Tensor],
    n_items: dict[str, int],
    config,
) -> torch.Tensor:
    """lambda * Eq. 3 over the items of a batch, per domain (at most ``contrastive_items`` each); the
    view-pair terms of both domains summed (the paper) or averaged (``contrastive_reduce = mean``)."""
    total, count = None, 0
    for domain, domain_ids in ids.items():
        items = torch.unique(domain_ids[(domain_ids > 0) & (domain_ids <= n_items[domain])])
        if items.numel() > config.contrastive_items:
            items = items[torch.randperm(items.numel(), device=items.device)[: config.contrastive_items]]
        terms = semantics.contrastive_terms(  # Eq. 3
            domain, items, config.tau, views[domain], config.contrastive_positives
        )
        count += len(terms)
        term = sum(terms, views[domain]["id"].new_zeros(()))  # per domain, then across (the old order)
        total = term if total is None else total + term
    if config.contrastive_reduce == "mean" and count:
        total = total / count
    return config.lam * total  # the lambda term of Eq. 14


def plugged_contrastive(model, parts: list[dict], tables: dict, domains: tuple[str, ...]) -> dict:
    """``{"contrastive": lambda * Eq. 3}`` of a baseline with the semantic component plugged in (its
    ``semantics``; views in ``tables`` as ``views_t`` / ``views_s``), or ``{}`` without it."""
    if model.semantics is None or model.config.has("no-contrastive"):
        return {}
    keys = {"target": "views_t", "source": "views_s"}
    n_items = {"target": model.n_target, "source": model.n_source}
    views = {d: tables[keys[d]] for d in domains}
    ids = batch_item_ids(parts, domains)
    term = contrastive_term(model.semantics, views, ids, {d: n_items[d] for d in domains}, model.config)
    return {"contrastive": term}


def plug_semantics(config, data, domains: tuple[str, ...]) -> MultiViewSemantics | None:
    """The semantic component for a baseline (paper Table 2: ``semantics = true``): item tables become
    the sum of the ID, inner-domain and domain-agnostic views, trained with Eq. 3; None when off."""
    if not config.semantics:
        return None
    rows = {
        "target": (data.n_target + 2, data.vectors_target, data.labels_target),
        "source": (data.n_source + 2, data.vectors_source, data.labels_source),
    }
    return MultiViewSemantics(
        config.hidden,
        {
            d: (
                rows[d][0],
                rows[d][1] if config.use_inner else None,
                rows[d][2] if config.use_agnostic else None,
            )
            for d in domains
        },
        n_subcategories=data.n_subcategories,
        n_categories=data.n_categories,
        integration=config.agnostic_integration,
    )
