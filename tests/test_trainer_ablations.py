"""Each Table 3 switch really changes what SemaCDR computes (same weights, same batch)."""

import numpy as np
import pytest
import torch
from trainer_synth import build_store

from trainer import data as D
from trainer import graphs as G
from trainer.batch import collate
from trainer.config import ABLATIONS, TrainConfig
from trainer.models import build_model


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("abl") / "s.db", users=40)


def _outputs(store, ablation, reference=None):
    cfg = TrainConfig(source="kitchen", target="food", ablation=ablation, hidden=16, dropout=0.0).validate()
    data = D.load(store, cfg)
    torch.manual_seed(0)
    model = build_model(cfg, data, G.build(data, simple=cfg.has("simple-graph")))
    if reference is not None:  # share every weight both models have
        own = model.state_dict()
        model.load_state_dict(
            {k: v for k, v in reference.items() if k in own and own[k].shape == v.shape}, strict=False
        )
    else:
        with torch.no_grad():
            model.fusion.logits.copy_(torch.tensor([0.5, -0.3, 0.1]))  # away from the uniform average
    model.eval()
    batch = collate(data.train[:16], data.n_target, np.random.default_rng(0))
    torch.manual_seed(1)
    with torch.no_grad():
        out = model(batch)
        states = model.encode(batch, model.tables())
    return model, out, states


def test_every_ablation_switch_changes_the_states_or_the_loss(store):
    full, out_full, states_full = _outputs(store, [])
    assert out_full["contrastive"] > 0
    reference = full.state_dict()
    for ablation in ABLATIONS:
        _, out, states = _outputs(store, [ablation], reference)
        if ablation == "no-contrastive":
            assert torch.allclose(states, states_full)  # same representation, only the loss changes
            assert "contrastive" not in out and out["loss"] < out_full["loss"]
        else:
            assert not torch.allclose(states, states_full, atol=1e-5), ablation


def test_no_semantics_model_has_no_semantic_parameters(store):
    model, out, _ = _outputs(store, ["no-semantics"])
    assert model.semantic_parameters() == []
    assert "contrastive" not in out


def test_agnostic_integration_mean_and_concat_differ(store):
    cfg = TrainConfig(source="kitchen", target="food", hidden=16, agnostic_integration="mean").validate()
    data = D.load(store, cfg)
    model = build_model(cfg, data, G.build(data))
    assert not hasattr(model.semantics, "integrate")
    assert model.semantics.views("target")["agnostic"].shape == (data.n_target + 2, 16)


def test_gcn_residual_keeps_items_apart_on_a_complete_co_interaction_graph():
    from trainer.modules import GCN

    n = 6
    rows, cols = np.nonzero(~np.eye(n, dtype=bool))
    adj = G.normalized_adjacency(rows, cols, n)  # every item co-interacted with every other
    torch.manual_seed(0)
    h = torch.randn(n, 8)
    plain, residual = GCN(8, residual=False), GCN(8, residual=True)
    residual.load_state_dict(plain.state_dict())
    with torch.no_grad():
        smoothed, kept = plain(adj, h), residual(adj, h)
    assert torch.allclose(smoothed, smoothed[:1].expand_as(smoothed), atol=1e-5)  # one vector for all items
    assert torch.cdist(kept, kept)[~torch.eye(n, dtype=torch.bool)].min() > 0.1
