"""The Table-1 baselines CL4SRec, C2DSR and Tri-CDR: their own objectives on hand-made inputs, causality
(a step's state never reads a later item), and a few training steps from the CLI."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from trainer_synth import build_store
from typer.testing import CliRunner

from semacdr_cli.app import app
from semacdr_cli.errors import SemacdrError
from trainer import data as D
from trainer.batch import collate
from trainer.config import TrainConfig
from trainer.models import build_model
from trainer.models.c2dsr import corrupt
from trainer.models.cl4srec import augment, nt_xent
from trainer.models.tri_cdr import TargetAttention, nt_xent_cosine

runner = CliRunner()
BASELINES = ("cl4srec", "c2dsr", "tri-cdr")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("baselines") / "s.db", users=48)


def _model(store, name, **keys):
    source = None if name == "cl4srec" else "kitchen"
    cfg = TrainConfig(
        source=source or "", target="food", model=name, hidden=16, dropout=0.0, **keys
    ).validate()
    data = D.load(store, cfg)
    torch.manual_seed(0)
    return cfg, data, build_model(cfg, data, {})


# -- CL4SRec ----------------------------------------------------------------------------------------------
def test_cl4srec_crop_keeps_a_contiguous_run_of_eta_n_items_in_order():
    items = torch.arange(10, 20)
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        view, masked = augment(items, "crop", 0.6, gen)
        assert len(view) == 6 and not masked.any()
        start = int(view[0]) - 10
        assert torch.equal(view, items[start : start + 6])


def test_cl4srec_mask_keeps_the_sequence_and_hides_gamma_n_positions():
    items = torch.arange(1, 11)
    view, masked = augment(items, "mask", 0.3, torch.Generator().manual_seed(2))
    assert torch.equal(view, items) and int(masked.sum()) == 3


def test_cl4srec_reorder_keeps_the_multiset_and_everything_outside_one_span_of_beta_n():
    items = torch.arange(1, 11)
    gen = torch.Generator().manual_seed(3)
    moved_any = False
    for _ in range(20):
        view, masked = augment(items, "reorder", 0.6, gen)
        assert sorted(view.tolist()) == items.tolist() and not masked.any()
        changed = (view != items).nonzero().flatten()
        if len(changed):
            moved_any = True
            assert int(changed.max() - changed.min()) < 6  # within one span of 6
    assert moved_any


def test_nt_xent_equals_a_naive_computation_with_2n_minus_2_negatives():
    torch.manual_seed(0)
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    z = torch.cat([a, b])
    total = 0.0
    for i in range(6):
        j = (i + 3) % 6
        others = [k for k in range(6) if k != i]
        total += -(z[i] @ z[j] / 0.5) + torch.logsumexp(torch.stack([z[i] @ z[k] / 0.5 for k in others]), 0)
    assert torch.allclose(nt_xent(a, b, 0.5), total / 6, atol=1e-5)
    zn = F.normalize(z, dim=-1)
    assert torch.allclose(nt_xent_cosine(a, b, 0.5), nt_xent(zn[:3], zn[3:], 0.5), atol=1e-5)


# -- C2DSR ------------------------------------------------------------------------------------------------
def test_c2dsr_corruption_replaces_only_the_other_domains_items_with_items_of_that_domain():
    nt, ns = 5, 7
    m = torch.tensor([[13, 1, 6, 2, 9, 3, 0, 0], [13, 8, 8, 8, 4, 0, 0, 0]])  # start 13, padding 0
    torch.manual_seed(0)
    keep_t = corrupt(m, nt, ns, keep="target")
    is_source = (m > nt) & (m <= nt + ns)
    assert torch.equal(keep_t[~is_source], m[~is_source])  # target items, start, padding kept
    assert ((keep_t[is_source] > nt) & (keep_t[is_source] <= nt + ns)).all()
    keep_s = corrupt(m, nt, ns, keep="source")
    is_target = (m >= 1) & (m <= nt)
    assert torch.equal(keep_s[~is_target], m[~is_target])
    assert ((keep_s[is_target] >= 1) & (keep_s[is_target] <= nt)).all()
    draws = torch.stack([corrupt(m, nt, ns, keep="target") for _ in range(20)])
    assert (draws[:, is_source] != m[is_source]).any()  # it does replace


def test_c2dsr_infomax_prefers_the_real_mixed_sequence_after_training_on_it(store):
    _, data, model = _model(store, "c2dsr", loss="softmax")
    batch = collate(data.train[:32], data.n_target, np.random.default_rng(0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = model.aux_losses([batch], model.tables())["c2dsr_infomax"]
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first  # the discriminator learns to tell real from corrupted


# -- Tri-CDR ----------------------------------------------------------------------------------------------
def test_tricdr_attention_equals_the_mlp_over_the_five_part_concatenation():
    torch.manual_seed(0)
    d = 6
    att = TargetAttention(d)
    q, k, m = torch.randn(2, 3, d), torch.randn(2, 4, d), torch.randn(2, 3, d)
    allowed = torch.rand(2, 3, 4) > 0.3
    allowed[..., 0] = True
    # the reference: one Linear over [k, q, k*q, q-k, m] with the same function
    first = nn.Linear(5 * d, 80)
    w1, w2, w3, w4, w5 = first.weight.detach().split(d, 1)
    with torch.no_grad():
        att.key.weight.copy_(w1 - w4)
        att.key.bias.copy_(first.bias)
        att.query.weight.copy_(w2 + w4)
        att.product.weight.copy_(w3)
        att.mixed.weight.copy_(w5)
    kk = k[:, None].expand(-1, 3, -1, -1)
    qq = q[:, :, None].expand(-1, -1, 4, -1)
    mm = m[:, :, None].expand(-1, -1, 4, -1)
    scores = att.rest(first(torch.cat([kk, qq, kk * qq, qq - kk, mm], -1))).squeeze(-1)
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1)
    assert torch.allclose(att(q, k, allowed, m), weights @ k, atol=1e-5)


def test_tricdr_final_state_attending_for_the_last_step_only_equals_the_full_computation(store):
    _, data, model = _model(store, "tri-cdr")
    model.eval()
    batch = collate([c.record for c in data.cases["test"][:8]], data.n_target)
    with torch.no_grad():
        tables = model.tables()
        full = model.encode(batch, tables)[torch.arange(8), batch["last"]]
        assert torch.allclose(model.final_states(batch, tables), full, atol=1e-5)


def test_tricdr_triplet_pulls_the_mixed_representation_between_source_and_target(store):
    _, _, model = _model(store, "tri-cdr")
    src = torch.zeros(4, 3)
    near, far = src + 0.1, src + 5.0
    assert (
        float(model.triple_contrast(near, src, far)["tricdr_triplet"]) == 0.0
    )  # anchor source, positive mix
    assert float(model.triple_contrast(far, src, near)["tricdr_triplet"]) > 1.0


# -- every baseline ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BASELINES)
def test_a_baselines_state_at_a_step_does_not_depend_on_later_items(store, name):
    _, data, model = _model(store, name)
    model.eval()
    records = [r for r in data.train if len(r.t_in) >= 4][:6]
    batch = collate(records, data.n_target)
    j = 1  # change everything the state of step j must not see: target items from j on, later mixed/source
    later = collate(records, data.n_target)
    later["t_in"][:, j + 1 :] = torch.where(later["t_in"][:, j + 1 :] > 0, 1, 0)
    cut = later["t_time"][:, j : j + 1]
    steps = torch.arange(later["m_in"].shape[1])[None, :]
    mixed_later = (steps > cut) & (later["m_in"] > 0)
    later["m_in"] = torch.where(mixed_later, 2, later["m_in"])
    source_later = (later["s_time"] >= cut) & (later["s_in"] > 0)
    later["s_in"] = torch.where(source_later, 1, later["s_in"])
    with torch.no_grad():
        tables = model.tables()
        a, b = model.encode(batch, tables), model.encode(later, tables)
    assert torch.allclose(a[:, : j + 1], b[:, : j + 1], atol=1e-5)
    assert not torch.allclose(a[:, j + 1 :], b[:, j + 1 :], atol=1e-5)  # the change is visible later on


@pytest.mark.parametrize("name", BASELINES)
def test_a_baseline_trains_from_the_cli_and_records_its_own_objective(store, tmp_path, name):
    args = ["train", "--db", store, "--target", "food", "--model", name, "--epochs", "2", "--repeat", "1"]
    args += [] if name == "cl4srec" else ["--source", "kitchen"]
    cfg = tmp_path / "small.toml"
    cfg.write_text("hidden = 16\neval_every = 1\n")
    res = runner.invoke(app, [*args, "--config", str(cfg), "--runs-dir", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    run_id = int(res.output.strip().splitlines()[-1])
    lines = (tmp_path / "runs" / f"run-{run_id:04d}" / "metrics.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    own = {"cl4srec": ["cl4srec"], "c2dsr": ["c2dsr_infomax"], "tri-cdr": ["tricdr_coarse", "tricdr_triplet"]}
    assert all(k in record["loss"] and np.isfinite(record["loss"][k]) for k in own[name]), record
    assert 0 < record["valid"]["ndcg@10"] <= 1


def test_semantics_on_a_baseline_without_a_plug_in_is_one_clear_refusal():
    with pytest.raises(SemacdrError, match="no semantic plug-in"):
        TrainConfig(source="kitchen", target="food", model="c2dsr", semantics=True).validate()


@pytest.mark.parametrize("name", ["cl4srec", "tri-cdr"])
def test_the_semantic_component_plugs_into_a_new_baseline_with_its_eq3_term(store, name):
    _, data, model = _model(store, name, semantics=True)
    batch = collate(data.train[:16], data.n_target, np.random.default_rng(0))
    out = model([batch])
    assert out["contrastive"] > 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(p.grad is not None for p in model.semantic_parameters() if p.requires_grad)
