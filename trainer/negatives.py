"""Negative sampling: uniform over target items the user never interacted with.

Training negatives (Eq. 13) are drawn per epoch from the epoch's seeded generator; evaluation
negatives (the paper's protocol: 100 per case) are drawn from a generator seeded by
(eval seed, store user id, split), so every model and every run sees the same negatives.
"""

from __future__ import annotations

import numpy as np

_SPLIT_CODE = {"valid": 1, "test": 2}


def sample_excluding(rng: np.random.Generator, n_items: int, exclude: np.ndarray, size: int) -> np.ndarray:
    """``size`` draws (with replacement) from ``1..n_items`` minus ``exclude`` (sorted int array)."""
    if len(exclude) >= n_items:
        raise ValueError("every item is excluded")
    out = rng.integers(1, n_items + 1, size=size)
    bad = np.isin(out, exclude)
    while bad.any():
        out[bad] = rng.integers(1, n_items + 1, size=int(bad.sum()))
        bad = np.isin(out, exclude)
    return out


def eval_negatives(user_id: int, split: str, own: np.ndarray, n_items: int, n: int, seed: int) -> np.ndarray:
    """``n`` distinct target items the user never interacted with (all of them if fewer exist)."""
    rng = np.random.default_rng([seed, int(user_id), _SPLIT_CODE.get(split, 0)])
    available = n_items - len(own)
    if available <= n:
        allowed = np.setdiff1d(np.arange(1, n_items + 1), own)
        return rng.permutation(allowed)
    chosen: list[int] = []
    seen = {int(x) for x in own}
    while len(chosen) < n:
        for x in rng.integers(1, n_items + 1, size=2 * (n - len(chosen))):
            x = int(x)
            if x not in seen:
                seen.add(x)
                chosen.append(x)
                if len(chosen) == n:
                    break
    return np.asarray(chosen, np.int64)
