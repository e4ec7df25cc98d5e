"""Metric functions and negative sampling against hand-computed cases."""

import math

import numpy as np
import pytest

from trainer.metrics import hit_rate, ndcg, rank_of_positive, summarize
from trainer.negatives import eval_negatives, sample_excluding


def test_rank_counts_candidates_scoring_at_least_the_positive():
    pos = np.array([0.9, 0.5, 0.1])
    others = np.array([[0.1, 0.2, 0.3], [0.6, 0.5, 0.4], [0.2, 0.3, float("-inf")]])
    # ties count against the positive (a constant model earns nothing)
    assert rank_of_positive(pos, others).tolist() == [0, 2, 2]


def test_hit_rate_and_ndcg_match_hand_computation():
    ranks = np.array([0, 3, 7, 12])
    assert hit_rate(ranks, 5) == 0.5
    assert hit_rate(ranks, 10) == 0.75
    expected5 = (1.0 + 1 / math.log2(5)) / 4
    expected10 = (1.0 + 1 / math.log2(5) + 1 / math.log2(9)) / 4
    assert ndcg(ranks, 5) == pytest.approx(expected5)
    assert ndcg(ranks, 10) == pytest.approx(expected10)
    assert set(summarize(ranks)) == {"hr@5", "hr@10", "ndcg@5", "ndcg@10"}


def test_eval_negatives_never_include_the_users_items_and_are_reproducible():
    own = np.array([1, 2, 3, 50, 99])
    a = eval_negatives(7, "test", own, 200, 100, seed=11)
    b = eval_negatives(7, "test", own, 200, 100, seed=11)
    assert len(a) == 100 and len(set(a.tolist())) == 100
    assert not set(a.tolist()) & set(own.tolist())
    assert a.min() >= 1 and a.max() <= 200
    assert np.array_equal(a, b)
    assert not np.array_equal(a, eval_negatives(8, "test", own, 200, 100, seed=11))


def test_eval_negatives_take_every_allowed_item_when_fewer_exist():
    own = np.array([2, 4])
    negs = eval_negatives(1, "valid", own, 10, 100, seed=0)
    assert sorted(negs.tolist()) == [1, 3, 5, 6, 7, 8, 9, 10]


def test_training_negatives_avoid_each_rows_own_excluded_items():
    rng = np.random.default_rng(0)
    excludes = [np.array([5, 1, 2, 3, 4]), np.array([6, 2]), np.zeros(0, np.int64)]
    rows = np.repeat([0, 1, 2], 300)
    out = sample_excluding(rng, 6, excludes, rows)
    assert set(out[rows == 0].tolist()) == {6}
    assert set(out[rows == 1].tolist()) == {1, 3, 4, 5}
    assert set(out[rows == 2].tolist()) == {1, 2, 3, 4, 5, 6}
    with pytest.raises(ValueError, match="every item"):
        sample_excluding(rng, 2, [np.array([1, 2])], np.array([0]))


def test_ties_with_the_held_out_item_count_against_it():
    """Ties count against the held-out item in the sampled and the full protocol alike: a collapsed
    model (every item scores the same) must not look better under full ranking."""
    import torch

    from trainer.metrics import rank_of_positive

    scores = torch.full((3, 40), 0.1234567)
    pos = torch.tensor([5, 17, 33])
    pos_full = scores.gather(1, pos[:, None]).squeeze(1)
    masked = scores.clone()
    masked[torch.arange(3), pos] = float("-inf")
    ranks = rank_of_positive(pos_full.numpy(), masked.numpy())
    assert (ranks >= 10).all()
