"""The fast paths of the building blocks compute what the plain PyTorch operations compute."""

import numpy as np
import torch

from trainer import graphs as G
from trainer.kernels import Dropout, sparse_matmul
from trainer.models.semantic import _pooling_matrix
from trainer.modules import Attention


def test_sparse_matmul_gradient_matches_the_dense_product_for_symmetric_and_rectangular_matrices():
    rng = np.random.default_rng(0)
    rows, cols = np.nonzero(np.triu(rng.random((30, 30)) < 0.2, 1))
    adj = G.normalized_adjacency(rows, cols, 30)
    labels = rng.integers(0, 9, size=(12, 3, 2))  # 12 items, 3 categories, up to 2 subcategories (0 = none)
    labels[:, :, 0] = np.maximum(labels[:, :, 0], 1)
    pool, pool_t = _pooling_matrix(labels, 8)
    for a, a_t in ((adj, None), (pool, pool_t)):
        dense = a.to_dense()
        h = torch.randn(dense.shape[1], 5, requires_grad=True)
        h2 = h.detach().clone().requires_grad_(True)
        w = torch.randn(dense.shape[0], 5)
        (sparse_matmul(a, h, a_t) * w).sum().backward()
        (dense @ h2 * w).sum().backward()
        assert torch.allclose(h.grad, h2.grad, atol=1e-5)
        assert torch.allclose(sparse_matmul(a, h, a_t), dense @ h2, atol=1e-5)


def test_dropout_zeroes_about_p_of_the_entries_and_keeps_the_mean():
    torch.manual_seed(0)
    drop = Dropout(0.3)
    x = torch.ones(200_000)
    y = drop(x)
    assert abs((y == 0).float().mean().item() - 0.3) < 0.01
    assert abs(y.mean().item() - 1.0) < 0.02
    drop.eval()
    assert torch.equal(drop(x), x)


def test_attention_training_path_equals_sdpa_when_dropout_vanishes():
    torch.manual_seed(0)
    attn = Attention(8, 2, 0.3)
    x, y = torch.randn(3, 5, 8), torch.randn(3, 4, 8)
    mask = torch.rand(3, 5, 4) > 0.5
    mask[0, 0] = False  # a row with nothing to attend to gives zeros in both paths
    attn.eval()
    expected = attn(x, y, mask), attn(x, x, causal=True)
    attn.train()
    attn.dropout = 1e-12  # the manual softmax path, effectively without dropout
    got = attn(x, y, mask), attn(x, x, causal=True)
    for e, g in zip(expected, got, strict=True):
        assert torch.allclose(e, g, atol=1e-5)
    assert torch.count_nonzero(got[0][0, 0] - attn.o.bias) == 0


def test_a_row_with_nothing_to_attend_to_gives_finite_gradients_under_dropout():
    torch.manual_seed(0)
    attn = Attention(8, 1, 0.3).train()  # cross-attention before the first source item: a fully masked row
    x, y = torch.randn(2, 4, 8, requires_grad=True), torch.randn(2, 3, 8, requires_grad=True)
    mask = torch.rand(2, 4, 3) > 0.5
    mask[0, 0] = False
    attn(x, y, mask).sum().backward()
    grads = [x.grad, y.grad] + [p.grad for p in attn.parameters()]
    assert all(torch.isfinite(g).all() for g in grads)


def test_the_agnostic_view_computed_per_label_set_equals_the_per_item_computation():
    from trainer.models.semantic import MultiViewSemantics

    rng = np.random.default_rng(1)
    sets = rng.integers(0, 5, size=(6, 3, 2))  # 40 items over 6 label sets: many share one
    labels = sets[rng.integers(0, 6, size=40)]
    labels[0] = 0  # the padding row has no label
    torch.manual_seed(0)
    sem = MultiViewSemantics(8, {"d": (40, None, labels)}, n_subcategories=5, n_categories=3)
    got = sem.views("d")["agnostic"]
    per_item = []  # Eq. 2 literally: the mean of each category's subcategory embeddings, concatenated
    for item in labels:
        parts = []
        for cat in item:
            subs = [s for s in cat if s > 0]
            parts.append(sem.subcategories.weight[subs].mean(0) if subs else torch.zeros(8))
        per_item.append(sem.integrate(torch.cat(parts)))
    want = torch.stack(per_item)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    assert len(np.unique(labels.reshape(40, -1), axis=0)) < 40  # the fixture does share label sets
    got.sum().backward()  # gradients reach the shared embeddings
    assert sem.subcategories.weight.grad is not None and sem.integrate.weight.grad.abs().sum() > 0
