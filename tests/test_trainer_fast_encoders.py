"""The grouped encoders (trainer/fast_encoders.py) are the same model as three separate encoder calls."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from trainer_synth import build_store

from trainer import data as D
from trainer import graphs as G
from trainer.batch import collate
from trainer.config import TrainConfig
from trainer.fast_encoders import grouped_forward, stack_weights
from trainer.models import build_model
from trainer.modules import SequenceEncoder


def _encoders(n: int, dropout: float) -> list[SequenceEncoder]:
    torch.manual_seed(0)
    return [SequenceEncoder(16, 12, blocks=2, heads=2, dropout=dropout) for _ in range(n)]


def _inputs(lengths, b=5):
    g = torch.Generator().manual_seed(1)
    xs, toks = [], []
    for n in lengths:
        tok = torch.randint(1, 9, (b, n), generator=g)
        for row in range(b):  # right padding of a different amount per row
            tok[row, n - row % 3 :] = 0
        xs.append(torch.randn(b, n, 16, generator=g, requires_grad=True))
        toks.append(tok)
    return xs, toks


@pytest.mark.parametrize("training", [False, True])
def test_grouped_encoders_equal_separate_calls_in_outputs_and_gradients(training):
    encs = _encoders(3, dropout=0.0)  # no random masks, so training mode is comparable too
    for e in encs:
        e.train(training)
    xs, toks = _inputs([7, 11, 4])  # different lengths: the group pads to 11
    separate = [e(x, t) for e, x, t in zip(encs, xs, toks, strict=True)]
    loss_a = sum((o * torch.linspace(0, 1, o.numel()).view_as(o)).sum() for o in separate)
    grads_a = torch.autograd.grad(loss_a, [*xs, *(p for e in encs for p in e.parameters())])
    grouped = grouped_forward(encs, stack_weights(encs), xs, toks)
    for a, b in zip(separate, grouped, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    loss_b = sum((o * torch.linspace(0, 1, o.numel()).view_as(o)).sum() for o in grouped)
    grads_b = torch.autograd.grad(loss_b, [*xs, *(p for e in encs for p in e.parameters())])
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


def test_grouped_dropout_keeps_its_rate():
    encs = _encoders(2, dropout=0.5)
    for e in encs:
        e.train()
    xs, toks = _inputs([6, 9], b=64)
    torch.manual_seed(3)
    a = grouped_forward(encs, stack_weights(encs), xs, toks)
    torch.manual_seed(4)
    b = grouped_forward(encs, stack_weights(encs), xs, toks)
    assert not torch.allclose(a[0], b[0])  # masks are drawn
    for e in encs:
        e.eval()
    c = grouped_forward(encs, stack_weights(encs), xs, toks)
    d = [e(x, t) for e, x, t in zip(encs, xs, toks, strict=True)]
    torch.testing.assert_close(c[1], d[1], atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("grouped") / "s.db"
    build_store(str(path), users=60)
    return str(path)


def _step(store, **keys):
    """(loss, gradients by name, model) of one training step on two micro-batches, no dropout."""
    cfg = TrainConfig(source="kitchen", target="food", hidden=16, dropout=0.0, **keys).validate()
    data = D.load(store, cfg)
    torch.manual_seed(0)
    model = build_model(cfg, data, G.build(data, edges=cfg.graph_edges) if cfg.model == "semacdr" else {})
    model.steps_per_batch = 10.0
    rng = np.random.default_rng(3)
    batch = [collate(data.train[:20], data.n_target, rng), collate(data.train[20:40], data.n_target, rng)]
    torch.manual_seed(5)
    out = model(batch)
    out["loss"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out["loss"].detach(), grads, model


def _assert_same_step(a, b):
    (loss_a, grads_a, _), (loss_b, grads_b, _) = a, b
    torch.testing.assert_close(loss_b, loss_a, atol=1e-5, rtol=1e-5)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name], atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize("ablation", [[], ["no-cross-domain-fusion"]])
def test_semacdr_step_has_the_same_loss_and_gradients_with_grouped_encoders(store, ablation):
    separate = _step(store, ablation=ablation, encoders="separate")
    grouped = _step(store, ablation=ablation, encoders="grouped")
    _assert_same_step(separate, grouped)
    assert (
        separate[2].state_dict().keys() == grouped[2].state_dict().keys()
    )  # checkpoints are interchangeable


@pytest.mark.parametrize("training", [False, True])
def test_packed_encoder_equals_the_padded_one_at_every_real_position(training):
    [plain] = _encoders(1, dropout=0.0)
    plain.train(training)
    packed = SequenceEncoder(16, 12, blocks=2, heads=2, dropout=0.0, pack=True)
    packed.load_state_dict(plain.state_dict())
    packed.train(training)
    [x], [tok] = _inputs([9], b=6)
    real = (tok > 0)[..., None].float()
    weights = torch.linspace(0, 1, x.numel()).view_as(x)
    a, b = plain(x, tok), packed(x, tok)
    torch.testing.assert_close(b * real, a * real, atol=1e-5, rtol=1e-5)
    assert torch.all(b[tok == 0] == 0)  # padded positions: zeros
    grads_a = torch.autograd.grad((a * real * weights).sum(), [x, *plain.parameters()])
    grads_b = torch.autograd.grad((b * real * weights).sum(), [x, *packed.parameters()])
    for ga, gb in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(gb, ga, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model", ["semacdr", "sasrec", "cd-sasrec"])
def test_a_training_step_has_the_same_loss_and_gradients_with_packed_tokens(store, model):
    _assert_same_step(
        _step(store, model=model, pack_tokens=False), _step(store, model=model, pack_tokens=True)
    )
