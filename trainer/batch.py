"""Collation: right-padded tensors from records (padding 0; the start token keeps causality clean)."""

from __future__ import annotations

import numpy as np
import torch

from trainer.data import Record
from trainer.negatives import sample_excluding


def _pad(arrays: list[np.ndarray], fill: int = 0) -> np.ndarray:
    width = max(len(a) for a in arrays)
    out = np.full((len(arrays), width), fill, np.int64)
    for k, a in enumerate(arrays):
        out[k, : len(a)] = a
    return out


def collate(
    records: list[Record],
    n_target: int,
    rng: np.random.Generator | None = None,
    device: str | torch.device = "cpu",
    negatives: int = 1,
    windows: bool = False,
) -> dict[str, torch.Tensor]:
    """A batch of records; with ``rng`` ``negatives`` uniform negatives per positive (never an item the
    user trained on; ``t_neg`` (B, L), or (B, L, N) for several); with ``windows`` the users' training
    windows too (``t_seen``, the target items of their cliques in the item graph, for leave-batch-out)."""
    t_pos = _pad([r.t_pos for r in records])
    batch = {
        "t_in": _pad([r.t_in for r in records]),
        "t_time": _pad([r.t_time for r in records]),
        "t_pos": t_pos,
        "s_in": _pad([r.s_in for r in records]),
        "s_time": _pad([r.s_time for r in records], fill=np.iinfo(np.int32).max),
        "m_in": _pad([r.m_in for r in records]),
        "user": np.asarray([r.user for r in records], np.int64),
        "last": np.asarray([len(r.t_in) - 1 for r in records], np.int64),
    }
    if rng is not None:
        rows, cols = np.nonzero(t_pos > 0)
        excludes = [r.seen for r in records]
        if negatives == 1:
            neg = np.zeros_like(t_pos)
            neg[rows, cols] = sample_excluding(rng, n_target, excludes, rows)
        else:
            neg = np.zeros((*t_pos.shape, negatives), np.int64)
            drawn = sample_excluding(rng, n_target, excludes, np.repeat(rows, negatives))
            neg[rows, cols] = drawn.reshape(len(rows), negatives)
        batch["t_neg"] = neg
    if windows:
        held = [r.seen if r.graph_items is None else r.graph_items for r in records]
        batch["t_seen"] = _pad(held) if records else np.zeros((0, 0), np.int64)
    return {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
