"""HR@k and NDCG@k from the rank of the held-out item (0 = first). Ties count against the item."""

from __future__ import annotations

import numpy as np

KS = (5, 10)


def rank_of_positive(pos_score: np.ndarray, other_scores: np.ndarray) -> np.ndarray:
    """Rank of each row's positive among its other candidates: how many score >= it (pessimistic ties).

    ``other_scores`` may hold -inf for excluded candidates.
    """
    return (other_scores >= pos_score[:, None]).sum(1)


def hit_rate(ranks: np.ndarray, k: int) -> float:
    return float((np.asarray(ranks) < k).mean()) if len(ranks) else 0.0


def ndcg(ranks: np.ndarray, k: int) -> float:
    """One relevant item: 1 / log2(rank + 2) when it is in the top k, else 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if not len(ranks):
        return 0.0
    gains = np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(gains.mean())


def summarize(ranks: np.ndarray) -> dict[str, float]:
    out = {}
    for k in KS:
        out[f"hr@{k}"] = hit_rate(ranks, k)
    for k in KS:
        out[f"ndcg@{k}"] = ndcg(ranks, k)
    return out
