"""The three graphs of §2.3.4 (Eqs. 4-6), built once from the training windows only.

All edges are binary and undirected; each adjacency gets self-loops and the symmetric
normalisation D^-1/2 (A + I) D^-1/2, stored as a sparse CSR matrix (symmetric, so the GCN's
backward pass reuses it instead of transposing: ``kernels.sparse_matmul``).
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


class WindowCounts:
    """The target item graph (Eq. 5) with, for every edge, how many training windows hold it, so that a
    training step can use the graph without its own users' windows (``graph_shortcut =
    leave-batch-out``): an edge stays while some user outside the batch holds it, the degrees (and so
    the symmetric normalisation) follow. Without it a training positive's neighbourhood holds the
    user's own window items, a shortcut that held-out items never get (docs/trainer.md). Cliques only:
    ``simple-graph``'s chains are not order-free, and the config refuses the pair."""

    def __init__(self, seqs: list[np.ndarray], n_nodes: int):
        self.n = n_nodes
        rows, cols = _pairs_clique(seqs)
        self.keys, self.counts = np.unique(rows * n_nodes + cols, return_counts=True)
        self.cols = self.keys % n_nodes
        self.crow = np.zeros(n_nodes + 1, np.int64)
        np.cumsum(np.bincount(self.keys // n_nodes, minlength=n_nodes), out=self.crow[1:])
        self.degree = np.diff(self.crow) + 1  # with the self-loop

    def rows_without(self, windows: list[np.ndarray], rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(A'[rows], A'[rows]^T) as CSR matrices, A' the normalised adjacency D'^-1/2 (A' + I) D'^-1/2 of
        the graph less the edges that only ``windows`` hold; ``rows`` sorted and unique."""
        n = self.n
        b_rows, b_cols = _pairs_clique(windows)
        b_keys, b_counts = np.unique(b_rows * n + b_cols, return_counts=True)
        at = np.searchsorted(self.keys, b_keys)  # every batch edge is an edge of the whole graph
        removed = b_keys[self.counts[at] <= b_counts]
        degree = self.degree - np.bincount(removed // n, minlength=n)
        starts, ends = self.crow[rows], self.crow[rows + 1]
        counts = ends - starts
        local = np.repeat(np.arange(len(rows)), counts)
        take = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + starts[local]
        keep = ~_isin_sorted(self.keys[take], removed)
        r, c = local[keep], self.cols[take][keep]
        r = np.concatenate([r, np.arange(len(rows))])  # self-loops
        c = np.concatenate([c, rows])
        order = np.lexsort((c, r))
        r, c = r[order], c[order]
        vals = (1.0 / np.sqrt(degree[rows[r]] * degree[c])).astype(np.float32)
        back = np.lexsort((r, c))
        return (
            csr_matrix(r, c, vals, (len(rows), n)),
            csr_matrix(c[back], r[back], vals[back], (n, len(rows))),
        )


def _isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if not len(sorted_set):
        return np.zeros(len(values), bool)
    at = np.searchsorted(sorted_set, values).clip(max=len(sorted_set) - 1)
    return sorted_set[at] == values


def build(data: CDData, simple: bool = False, edges: str = "window") -> dict[str, torch.Tensor]:
    graphs = {"target": item_graph(data.target_seqs, data.n_target + 2, simple)}
    if data.source is not None:
        graphs["source"] = item_graph(data.source_seqs, data.n_source + 2, simple)
        if not simple:
            graphs["mixed"] = mixed_graph(data, source_only=edges == "source-mixed")
    return graphs
