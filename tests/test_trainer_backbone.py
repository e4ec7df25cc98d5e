"""The backbone changes of docs/trainer.md: shuffled batches, per-instance loss weights, positions
counted from the newest state, the losses, early stopping by validations, the cap flag, warm/cold
breakdowns and thread control."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from trainer_synth import build_store

from trainer import api, threads
from trainer.batch import collate
from trainer.config import TrainConfig
from trainer.evaluate import case_groups
from trainer.loop import make_batches, steps_per_batch
from trainer.losses import bce_loss, bpr_loss, sampled_softmax_loss
from trainer.modules import SequenceEncoder


def _records(lengths):
    return [SimpleNamespace(t_in=np.zeros(n), m_in=np.zeros(n), t_pos=np.ones(n)) for n in lengths]


def test_shuffled_batches_mix_lengths_and_change_every_epoch():
    lengths = np.repeat(np.arange(1, 9), 64)  # 512 users, 8 lengths, sorted
    records = _records(lengths)
    cfg = TrainConfig(target="t", batching="shuffle", batch_size=64)
    order = np.random.default_rng(0).permutation(len(records))
    batches = make_batches(order, records, cfg, np.random.default_rng(0))
    assert sorted(np.concatenate(batches)) == list(range(512))
    distinct = [len(set(lengths[b])) for b in batches]
    assert min(distinct) >= 5  # every batch holds many lengths
    other = make_batches(
        np.random.default_rng(1).permutation(len(records)), records, cfg, np.random.default_rng(1)
    )
    assert any(set(a) != set(b) for a, b in zip(batches, other, strict=True))
    # the earlier scheme: one length per batch
    bucket = make_batches(
        order, records, TrainConfig(target="t", batching="bucket", batch_size=64), np.random.default_rng(0)
    )
    assert max(len(set(lengths[b])) for b in bucket) <= 2


def test_steps_per_batch_is_the_expected_number_of_target_steps():
    records = _records([2, 4, 6])
    assert steps_per_batch(records, 3) == pytest.approx(12.0)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("backbone") / "s.db", users=120)


def _sasrec(store, **overrides):
    from trainer import data as data_mod
    from trainer.models import build_model

    cfg = TrainConfig(target="food", model="sasrec", hidden=16, dropout=0.0, **overrides).validate()
    data = data_mod.load(store, cfg)
    torch.manual_seed(0)
    model = build_model(cfg, data, {})
    model.train()
    return cfg, data, model


def _batch_loss(model, data, records, negs):
    batch = collate(records, data.n_target)
    batch["t_neg"] = torch.zeros_like(batch["t_pos"])
    for k, r in enumerate(records):
        n = int((r.t_pos > 0).sum())
        batch["t_neg"][k, :n] = torch.as_tensor(negs[r.user][:n])
    return float(model(batch)["loss"].detach())


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_each_instance_weighs_the_same_in_any_batch_only_with_instance_normalisation(store, norm):
    _cfg, data, model = _sasrec(store, loss_norm=norm, loss="bce")  # own negatives: per-instance terms
    model.steps_per_batch = steps_per_batch(data.train, 4)
    rng = np.random.default_rng(0)
    negs = {r.user: rng.integers(1, data.n_target + 1, size=len(r.t_pos)) for r in data.train}
    short = min(data.train, key=lambda r: len(r.t_pos))
    longs = sorted(data.train, key=lambda r: -len(r.t_pos))[:3]
    alone = _batch_loss(model, data, [short], negs)
    together = _batch_loss(model, data, [short, *longs], negs)
    rest = _batch_loss(model, data, longs, negs)
    additive = together == pytest.approx(alone + rest, rel=1e-4)
    assert additive == (norm == "instance")


def test_recency_positions_put_the_newest_state_at_zero():
    enc = SequenceEncoder(8, 10, 1, 1, 0.0, positions="recency")
    tokens = torch.tensor([[9, 3, 4, 0, 0], [9, 3, 4, 5, 6]])
    assert enc.position_ids(tokens).tolist() == [[2, 1, 0, 0, 0], [4, 3, 2, 1, 0]]
    fwd = SequenceEncoder(8, 10, 1, 1, 0.0, positions="forward")
    assert fwd.position_ids(tokens).tolist() == [[0, 1, 2, 3, 4]] * 2


def test_losses_are_per_instance_and_prefer_the_positive():
    pos, neg = torch.tensor([3.0, -1.0]), torch.tensor([0.0, 2.0])
    assert bpr_loss(pos, neg).shape == (2,) and bpr_loss(pos, neg)[0] < bpr_loss(pos, neg)[1]
    assert bce_loss(pos, neg)[0] < bce_loss(pos, neg)[1]
    shared = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    sm = sampled_softmax_loss(pos, shared)
    assert sm[0] < sm[1] and torch.allclose(sm[0], torch.logsumexp(torch.tensor([3.0, 0.0, 1.0]), 0) - 3.0)


def test_loss_auto_is_bpr_for_semacdr_and_sampled_softmax_for_the_baselines():
    assert TrainConfig(target="a", source="b").loss_kind == "bpr"
    assert TrainConfig(target="a", model="sasrec").loss_kind == "softmax"
    assert TrainConfig(target="a", model="sasrec", loss="bce").loss_kind == "bce"


def test_early_stopping_counts_validations_not_epochs(store, tmp_path):
    # lr 0: the first validation is the best and no later one improves, so the run stops after
    # 1 + patience validations, every eval_every epochs
    [run] = api.train(
        store,
        target="food",
        model="sasrec",
        epochs=100,
        runs_dir=tmp_path,
        progress=False,
        overrides={"hidden": 16, "lr": 0.0, "eval_every": 2, "patience": 2, "threads": 1},
    )
    row = api.run_record(store, run)
    train = row["metrics"]["train"]
    assert train["epochs"] == 6 and train["evaluations"] == 3
    assert train["stopped_early"] is True and train["hit_cap"] is False and train["best_epoch"] == 1
    lines = [json.loads(x) for x in (api.Path(row["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in lines if "valid" in e] == [1, 3, 5]


def test_a_run_that_reaches_the_cap_says_so_and_eval_warns(store, tmp_path):
    from typer.testing import CliRunner

    from semacdr_cli.app import app

    [run] = api.train(
        store,
        target="food",
        model="sasrec",
        epochs=3,
        runs_dir=tmp_path,
        progress=False,
        overrides={"hidden": 16, "eval_every": 1, "patience": 50, "threads": 1},
    )
    assert api.run_record(store, run)["metrics"]["train"]["hit_cap"] is True
    res = CliRunner().invoke(app, ["eval", str(run["id"]), "--db", store])
    assert res.exit_code == 0 and "hit the epoch cap" in res.output
    out = api.evaluate(store, run)
    assert out["training"][0]["hit_cap"] is True and set(out["breakdown"]) == {"warm", "cold", "prior>=3"}


def test_selection_by_full_ranking_validates_both_protocols(store, tmp_path):
    [run] = api.train(
        store,
        target="food",
        model="sasrec",
        epochs=2,
        runs_dir=tmp_path,
        progress=False,
        overrides={"hidden": 16, "eval_every": 1, "select_metric": "full:ndcg@10", "threads": 1},
    )
    row = api.run_record(store, run)
    lines = [json.loads(x) for x in (api.Path(row["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    assert all("valid_full" in e for e in lines)
    assert row["metrics"]["train"]["select_metric"] == "full:ndcg@10"


def test_warm_and_cold_held_out_items_are_counted_on_a_fixture():
    data = SimpleNamespace(n_target=6, target_seqs=[np.array([1, 2]), np.array([2, 3])])
    cases = [
        SimpleNamespace(positive=2, record=SimpleNamespace(t_in=np.array([7, 1]))),  # warm, 1 prior
        SimpleNamespace(positive=5, record=SimpleNamespace(t_in=np.array([7, 1, 2, 3]))),  # cold, 3 prior
        SimpleNamespace(positive=6, record=SimpleNamespace(t_in=np.array([7]))),  # cold, 0 prior
        SimpleNamespace(positive=3, record=SimpleNamespace(t_in=np.array([7, 2, 3, 1, 4]))),  # warm, 4 prior
    ]
    groups = case_groups(data, cases)
    assert groups["warm"].tolist() == [True, False, False, True]
    assert groups["cold"].tolist() == [False, True, True, False]
    assert groups["prior>=3"].tolist() == [False, True, False, True]


def test_breakdown_metrics_are_the_metrics_of_each_group(store, tmp_path):
    [run] = api.train(
        store,
        target="food",
        model="sasrec",
        epochs=1,
        runs_dir=tmp_path,
        progress=False,
        overrides={"hidden": 16, "threads": 1},
    )
    out = api.evaluate(store, run)
    b = out["breakdown"]
    assert b["warm"]["cases"] + b["cold"]["cases"] == out["cases"]
    if b["cold"]["cases"] and b["warm"]["cases"]:
        w, c = b["warm"]["cases"], b["cold"]["cases"]
        mixed = (w * b["warm"]["sampled"]["hr@10"] + c * b["cold"]["sampled"]["hr@10"]) / (w + c)
        assert mixed == pytest.approx(out["sampled"]["hr@10"])


def test_threads_are_applied_and_recorded_with_the_run(store, tmp_path):
    [run] = api.train(
        store,
        target="food",
        model="sasrec",
        epochs=1,
        runs_dir=tmp_path,
        progress=False,
        overrides={"hidden": 16, "threads": 1},
    )
    assert torch.get_num_threads() == 1
    row = api.run_record(store, run)
    assert row["config"]["threads"] == 1 and row["versions"]["machine"]["torch_threads"] == 1
    saved = json.loads((api.Path(row["run_dir"]) / "versions.json").read_text())
    assert saved["machine"]["cpu"] and saved["machine"]["torch_threads"] == 1
    threads.apply_threads(2)
    assert torch.get_num_threads() == 2


def test_automatic_threads_leave_out_the_busy_cores_for_training_and_for_the_llm(monkeypatch):
    from semacdr_cli import machine
    from semacdr_cli.llm.transformers_backend import default_threads

    monkeypatch.delenv("SEMACDR_THREADS", raising=False)
    monkeypatch.setattr(machine, "available_cores", lambda: 2)
    monkeypatch.setattr(machine, "busy_cores", lambda: 1.1)  # a training job on one of two cores
    assert threads.choose_threads(0) == 1 and default_threads() == 1
    monkeypatch.setattr(machine, "busy_cores", lambda: 3.0)
    assert threads.choose_threads(0) == 1 and default_threads() == 1  # never fewer than one
    monkeypatch.setattr(machine, "busy_cores", lambda: 0.2)
    assert threads.choose_threads(0) == 2 and threads.choose_threads(3) == 3 and default_threads() == 2
    monkeypatch.setenv("SEMACDR_THREADS", "3")
    assert default_threads() == 3


def test_cd_sasrec_trains_its_source_table_through_its_own_objective(store):
    from trainer import data as data_mod
    from trainer.models import build_model

    cfg = TrainConfig(target="food", source="kitchen", model="cd-sasrec", hidden=16).validate()
    data = data_mod.load(store, cfg)
    model = build_model(cfg, data, {})
    batch = collate(data.train[:16], data.n_target, np.random.default_rng(0))
    out = model(batch)
    assert "source_next_item" in out and float(out["source_next_item"]) > 0
    out["loss"].backward()
    assert model.source_encoder.pos.weight.grad is not None


def test_micro_batches_keep_the_batch_and_give_the_loss_and_gradient_of_one_piece(store):
    from trainer.loop import micro_batches

    _cfg, data, model = _sasrec(store, loss="bce")
    model.steps_per_batch = steps_per_batch(data.train, 32)
    idx = np.arange(32)
    chunks = micro_batches(idx, data.train, 4)
    assert len(chunks) == 4 and sorted(np.concatenate(chunks)) == list(range(32))
    lengths = [max(len(data.train[i].t_in) for i in c) for c in chunks]
    assert lengths == sorted(lengths)  # sorted by length: the short users pad to their own width
    whole = collate([data.train[i] for i in idx], data.n_target, np.random.default_rng(0))
    parts = [collate([data.train[i] for i in c], data.n_target) for c in chunks]
    for part, c in zip(parts, chunks, strict=True):  # the same negatives as the whole batch drew
        width = part["t_pos"].shape[1]
        part["t_neg"] = whole["t_neg"][torch.as_tensor(c), :width]
    loss_whole = model(whole)["loss"]
    loss_whole.backward()
    grad_whole = model.encoder.pos.weight.grad.clone()
    model.zero_grad()
    loss_parts = model(parts)["loss"]
    loss_parts.backward()
    assert float(loss_parts.detach()) == pytest.approx(float(loss_whole.detach()), rel=1e-5)
    assert torch.allclose(model.encoder.pos.weight.grad, grad_whole, atol=1e-6)


def test_micro_batches_cut_where_the_padded_area_is_least():
    from itertools import combinations, pairwise

    from trainer.loop import _least_padding_cuts

    def area(lengths, bounds):
        return sum((b - a) * lengths[b - 1] for a, b in pairwise(bounds))

    rng = np.random.default_rng(3)
    for _ in range(20):
        lengths = np.sort(rng.integers(1, 60, size=int(rng.integers(6, 12))))
        parts = int(rng.integers(2, 5))
        n = len(lengths)

        cuts = _least_padding_cuts(lengths, parts)
        assert cuts[0] == 0 and cuts[-1] == n and len(cuts) == parts + 1
        assert all(a < b for a, b in pairwise(cuts))  # no empty piece
        brute = min(area(lengths, [0, *c, n]) for c in combinations(range(1, n), parts - 1))
        assert area(lengths, cuts) == brute
    # one long user among short ones gets a piece of its own instead of padding the others
    assert _least_padding_cuts(np.array([2, 2, 2, 2, 2, 3, 3, 90]), 3)[-2] == 7


def test_a_training_step_convolves_only_the_rows_its_batch_reads_with_the_same_loss_and_gradient(store):
    from trainer import data as data_mod
    from trainer import graphs
    from trainer.batch_rows import touched_rows
    from trainer.models import build_model

    cfg = TrainConfig(target="food", source="kitchen", model="semacdr", hidden=16, dropout=0.0).validate()
    data = data_mod.load(store, cfg)
    torch.manual_seed(0)
    model = build_model(cfg, data, graphs.build(data, edges=cfg.graph_edges))
    model.train()
    model.steps_per_batch = steps_per_batch(data.train, 16)
    batch = [collate(data.train[:16], data.n_target, np.random.default_rng(0))]
    rows = touched_rows(batch, data.n_target)
    assert len(rows["source"]) < data.n_source + 2  # the test means something: not every row is read
    tables, local = model.batch_tables(batch)
    assert tables["source"].shape[0] == len(rows["source"]) and int(local[0]["s_in"].max()) < len(
        rows["source"]
    )
    out = model(batch)
    out["loss"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    model.batch_tables = lambda parts: (model.tables(), parts)  # every row, as evaluation computes them
    full = model(batch)
    full["loss"].backward()
    assert float(out["loss"].detach()) == pytest.approx(float(full["loss"].detach()), rel=1e-6)
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.allclose(grads[name], p.grad, atol=1e-6), name


def test_micro_batches_are_cut_only_where_the_padding_saved_outweighs_the_cost_of_a_piece():
    from trainer.loop import _least_padding_cuts

    even = np.full(64, 20)  # equal lengths: no cut saves padding, so any cost keeps one piece
    assert _least_padding_cuts(even, 4, piece_cost=1) == [0, 64]
    assert len(_least_padding_cuts(even, 4, piece_cost=0)) == 5  # cost 0: the pieces asked for
    tail = np.sort(np.r_[np.full(60, 5), [200, 200, 200, 200]])  # a few long histories among short ones
    assert _least_padding_cuts(tail, 4, piece_cost=100) == [0, 60, 64]  # saves 11,700 tokens for 100
    assert _least_padding_cuts(tail, 4, piece_cost=20_000) == [0, 64]  # not worth a piece at that cost
