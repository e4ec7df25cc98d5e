"""Negative sampling: uniform over target items the user never interacted with.

Training negatives (Eq. 13) are drawn per epoch from the epoch's seeded generator; evaluation
negatives (the paper's protocol: 100 per case) are drawn from a generator seeded by
(eval seed, store user id, split), so every model and every run sees the same negatives.
"""

from __future__ import annotations

import numpy as np

_SPLIT_CODE = {"valid": 1, "test": 2}


def sample_excluding(
    rng: np.random.Generator, n_items: int, excludes: list[np.ndarray], rows: np.ndarray
) -> np.ndarray:
    """One draw (with replacement) from ``1..n_items`` minus ``excludes[r]`` for each r of ``rows``:
    the whole batch at once, redrawing the draws that hit an excluded item."""
    rows = np.asarray(rows, np.int64)
    width = n_items + 1  # (row, item) as one key: row * width + item
    keys = np.unique(
        np.concatenate([k * width + np.asarray(e, np.int64) for k, e in enumerate(excludes)] or [[]])
    )
    used = np.unique(rows)
    if len(used) and np.bincount(keys // width, minlength=len(excludes))[used].max() >= n_items:
        raise ValueError("every item is excluded")
    out = rng.integers(1, n_items + 1, size=len(rows))
    bad = _hits(keys, rows * width + out)
    while bad.any():
        out[bad] = rng.integers(1, n_items + 1, size=int(bad.sum()))
        bad[bad] = _hits(keys, rows[bad] * width + out[bad])
    return out


def _hits(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(sorted_keys, keys).clip(max=max(0, len(sorted_keys) - 1))
    return sorted_keys[pos] == keys if len(sorted_keys) else np.zeros(len(keys), bool)


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
