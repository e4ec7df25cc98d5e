"""The three graphs of §2.3.4 (Eqs. 4-6), built once from the training windows only.

All edges are binary and undirected; each adjacency gets self-loops and the symmetric
normalisation D^-1/2 (A + I) D^-1/2, stored as a sparse CSR matrix (symmetric, so the GCN's
backward pass reuses it instead of transposing: ``modules.sparse_matmul``).
- source / target item graphs: items co-interacted by the same user (a clique per user);
  with ``simple-graph`` (Table 3, SimpGraph) only consecutive items of each user's single-domain
  sequence are linked, and there is no user-item graph.
- mixed graph: users x (target + source) items, bipartite, nodes ``[users | mixed vocabulary]``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from trainer.data import CDData


def _pairs_clique(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = [], []
    for s in seqs:
        s = np.unique(s)
        if len(s) < 2:
            continue
        a, b = np.meshgrid(s, s, indexing="ij")
        mask = a != b
        rows.append(a[mask])
        cols.append(b[mask])
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)


def _pairs_chain(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = [], []
    for s in seqs:
        if len(s) < 2:
            continue
        a, b = s[:-1], s[1:]
        keep = a != b
        rows += [a[keep], b[keep]]
        cols += [b[keep], a[keep]]
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows), np.concatenate(cols)


def normalized_adjacency(rows: np.ndarray, cols: np.ndarray, n: int) -> torch.Tensor:
    """D^-1/2 (A + I) D^-1/2 of the binary symmetric graph with these edges, as a sparse CSR tensor."""
    loops = np.arange(n, dtype=np.int64)
    r = np.concatenate([rows, cols, loops])
    c = np.concatenate([cols, rows, loops])
    key = np.unique(r * n + c)  # binary edges: duplicates collapse
    r, c = key // n, key % n
    deg = np.bincount(r, minlength=n).astype(np.float64)
    inv = 1.0 / np.sqrt(deg)
    vals = (inv[r] * inv[c]).astype(np.float32)
    return csr_matrix(r, c, vals, (n, n))


def csr_matrix(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, shape: tuple[int, int]) -> torch.Tensor:
    """A sparse CSR tensor from (row, col, value) triples; ``rows`` must be sorted."""
    crow = np.zeros(shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=crow[1:])
    with warnings.catch_warnings():  # "sparse CSR tensor support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            torch.from_numpy(crow),
            torch.from_numpy(np.ascontiguousarray(cols, np.int64)),
            torch.from_numpy(np.ascontiguousarray(vals, np.float32)),
            shape,
            check_invariants=False,
        )


def item_graph(seqs: list[np.ndarray], n_nodes: int, simple: bool = False) -> torch.Tensor:
    """Source (Eq. 4) or target (Eq. 5) item-item graph over ``n_nodes`` = items + pad + start."""
    rows, cols = _pairs_chain(seqs) if simple else _pairs_clique(seqs)
    return normalized_adjacency(rows, cols, n_nodes)


def mixed_graph(data: CDData, source_only: bool = False) -> torch.Tensor:
    """The user x item bipartite graph of Eq. 6: nodes ``[users | mixed vocabulary]``. With
    ``source_only`` a user links to its source items only, so its node never carries the target
    items it is trained to predict (graph_edges = "source-mixed", docs/trainer.md)."""
    u = data.n_users
    n = u + data.n_target + data.n_source + 2
    ut, it = data.ui_target
    if source_only:
        ut, it = ut[:0], it[:0]
    us, is_ = data.ui_source
    rows = np.concatenate([ut, us])
    cols = np.concatenate([u + it, u + data.n_target + is_])
    return normalized_adjacency(rows, cols, n)


def build(data: CDData, simple: bool = False, edges: str = "window") -> dict[str, torch.Tensor]:
    graphs = {"target": item_graph(data.target_seqs, data.n_target + 2, simple)}
    if data.source is not None:
        graphs["source"] = item_graph(data.source_seqs, data.n_source + 2, simple)
        if not simple:
            graphs["mixed"] = mixed_graph(data, source_only=edges == "source-mixed")
    return graphs
