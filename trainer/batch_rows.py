"""Speed, not equations: a training step reads only the table rows its batch touches.

``touched_rows`` lists them (sorted, padding always among them); ``renumber`` maps the batch's ids to
positions in those rows, so a step's graph convolutions, gathers and their gradients never touch a
full-size table (tests compare loss and gradients with the full tables).
"""

from __future__ import annotations

import torch


def touched_rows(parts: list[dict], n_target: int, every_target: bool = False) -> dict[str, torch.Tensor]:
    """The sorted ids a training batch reads: target items (inputs, positives, negatives; all of them
    with ``every_target``, as full softmax scores every item), source items (inputs), users,
    mixed-sequence items."""
    zero = parts[0]["t_in"].new_zeros(1)

    def unique(*tensors):
        return torch.unique(torch.cat([zero, *(t.reshape(-1) for t in tensors)]))

    if every_target:
        target = torch.arange(n_target + 2, device=zero.device)
    else:
        target = unique(*(p[k] for p in parts for k in ("t_in", "t_pos", "t_neg")))
    return {
        "target": target,
        "source": unique(*(p["s_in"] for p in parts)),
        "users": torch.unique(torch.cat([p["user"].reshape(-1) for p in parts])),
        "mixed_items": unique(*(p["m_in"] for p in parts)),
    }


def renumber(parts: list[dict], rows: dict[str, torch.Tensor]) -> list[dict]:
    """``parts`` with every id replaced by its position in ``rows`` (which hold them all)."""
    which = {"t_in": "target", "t_pos": "target", "t_neg": "target", "s_in": "source", "m_in": "mixed_items",
             "user": "users"}  # fmt: skip
    return [{**p, **{k: torch.searchsorted(rows[t], p[k]) for k, t in which.items()}} for p in parts]
