"""The switches of the issue "SemaCDR that earns its place": losses, Eq. 3 positives, the graph shortcut,
the user embedding in the fusion, presets. Each test proves what its switch computes on a small case."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from trainer_synth import build_store
from typer.testing import CliRunner

from semacdr_cli.app import app
from semacdr_cli.errors import SemacdrError
from trainer import data as D
from trainer import graphs as G
from trainer.batch import collate
from trainer.config import TrainConfig, load_config
from trainer.losses import bpr_loss, full_softmax_loss, sampled_softmax_loss
from trainer.models import build_model
from trainer.models.semantic import MultiViewSemantics, label_groups
from trainer.presets import PRESETS

DOCS = Path(__file__).resolve().parent.parent / "docs" / "trainer.md"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("fixes") / "s.db", users=40)


def _model(store, **keys):
    cfg = TrainConfig(source="kitchen", target="food", hidden=16, dropout=0.0, **keys).validate()
    data = D.load(store, cfg)
    torch.manual_seed(0)
    model = build_model(cfg, data, G.build(data, simple=cfg.has("simple-graph"), edges=cfg.graph_edges))
    return cfg, data, model


# -- Eq. 3 ----------------------------------------------------------------------------------------------
def _semantics(labels: np.ndarray) -> MultiViewSemantics:
    torch.manual_seed(0)
    return MultiViewSemantics(8, {"d": (len(labels), None, labels)}, n_subcategories=4, n_categories=2)


def test_items_with_the_same_labels_are_not_each_others_negatives_in_eq3():
    # items 1 and 2 carry the same labels (in another order within a category), item 3 others
    labels = np.zeros((4, 2, 2), np.int64)
    labels[1] = [[1, 2], [3, 0]]
    labels[2] = [[2, 1], [3, 0]]
    labels[3] = [[4, 0], [3, 0]]
    groups = label_groups(labels)
    assert groups[1] == groups[2] != groups[3]
    sem = _semantics(labels)
    items = torch.tensor([1, 2, 3])
    # hand-made views: the two label sets point two ways, every item's id view exactly at its own set's
    agnostic = torch.zeros(4, 8)
    agnostic[[1, 2], 0] = 1.0
    agnostic[3, 1] = 1.0
    views = {"id": agnostic.clone(), "agnostic": agnostic}
    tau = 0.01
    (grouped,) = sem.contrastive_terms("d", items, tau, views, positives="label-groups")
    (diagonal,) = sem.contrastive_terms("d", items, tau, views, positives="diagonal")
    # against the label groups the perfect fit costs nothing; against the diagonal, items 1 and 2 each
    # see an identical "negative" and can never do better than 1 in 2
    assert grouped.item() < 1e-3
    assert diagonal.item() >= (2 / 3) * math.log(2) - 1e-4
    # the grouped term is a cross-entropy over one column per label set
    za = F.normalize(views["id"][items], dim=-1)
    zb = F.normalize(views["agnostic"][torch.tensor([1, 3])], dim=-1)
    naive = F.cross_entropy(za @ zb.T / tau, torch.tensor([0, 0, 1]))
    assert torch.allclose(grouped, naive, atol=1e-6)


def test_contrastive_terms_are_averaged_with_mean_and_summed_by_the_paper(store):
    _, data, summed = _model(store)
    _, _, averaged = _model(store, contrastive_reduce="mean")
    averaged.load_state_dict(summed.state_dict())
    batch = collate(data.train[:16], data.n_target, np.random.default_rng(0))
    for m in (summed, averaged):
        m.eval()
    torch.manual_seed(1)
    with torch.no_grad():
        s = summed([batch])["contrastive"]
    torch.manual_seed(1)
    with torch.no_grad():
        a = averaged([batch])["contrastive"]
    # two domains x (id, agnostic) and (inner, agnostic): four terms
    assert torch.allclose(s, 4 * a, rtol=1e-5)


# -- the recommendation losses ----------------------------------------------------------------------------
def test_full_softmax_equals_cross_entropy_over_every_item_in_chunks_too():
    torch.manual_seed(0)
    states = torch.randn(7, 5, requires_grad=True)
    table = torch.randn(11, 5, requires_grad=True)
    pos = torch.tensor([1, 11, 3, 3, 7, 2, 9])
    naive = F.cross_entropy(states @ table.T, pos - 1, reduction="none")
    grads = torch.autograd.grad(naive.sum(), (states, table))
    for max_logits in (1 << 24, 22, 11):  # whole, chunks of two instances, one at a time
        ours = full_softmax_loss(lambda z, t: z @ t.T, states, table, pos, max_logits=max_logits)
        assert torch.allclose(ours, naive, atol=1e-6)
        for g, ref in zip(torch.autograd.grad(ours.sum(), (states, table)), grads, strict=True):
            assert torch.allclose(g, ref, atol=1e-6)


def test_the_shared_softmax_pool_leaves_out_each_instances_own_positive():
    pos = torch.tensor([2.0, 0.5])
    pool = torch.tensor([[2.0, 1.0, 0.0], [0.5, 0.5, 3.0]])  # instance 0's positive is pool entry 0
    same = torch.tensor([[True, False, False], [False, False, False]])
    ours = sampled_softmax_loss(pos, pool, same)
    expect = torch.stack(
        [
            torch.logsumexp(torch.tensor([2.0, 1.0, 0.0]), 0) - 2.0,  # entry 0 gone
            torch.logsumexp(torch.tensor([0.5, 0.5, 0.5, 3.0]), 0) - 0.5,
        ]
    )
    assert torch.allclose(ours, expect)


def test_the_model_masks_the_positive_in_the_pool_only_with_exclude_positive(store):
    _, data, shared = _model(store, model="sasrec", loss="softmax")
    _, _, excluded = _model(store, model="sasrec", loss="softmax", softmax_pool="exclude-positive")
    excluded.load_state_dict(shared.state_dict())
    batch = collate(data.train[:8], data.n_target, np.random.default_rng(0))
    batch["t_neg"] = batch["t_pos"].clone()  # the pool is exactly the batch's positives
    for m in (shared, excluded):
        m.eval()
    with torch.no_grad():
        z = shared.encode(batch, shared.tables())
        valid = batch["t_pos"] > 0
        zs, ids = z[valid], batch["t_pos"][valid]
        table = shared.tables()["target"]
        pool = torch.unique(ids)
        logits = zs @ table[pool].T
        pos = (zs * table[ids]).sum(-1)
        keep = pool[None, :] != ids[:, None]
        expect = torch.stack(
            [
                torch.logsumexp(torch.cat([pos[k : k + 1], logits[k][keep[k]]]), 0) - pos[k]
                for k in range(len(ids))
            ]
        )
        got = excluded._instance_losses(batch, excluded.tables(), table, "softmax", (table[pool], pool))
        old = shared._instance_losses(batch, shared.tables(), table, "softmax", (table[pool], pool))
    assert torch.allclose(got, expect, atol=1e-5)
    assert (old > got + 1e-4).all()  # with the positive among the negatives the old loss is higher


def test_several_bpr_negatives_are_drawn_outside_the_users_items_and_averaged(store):
    _, data, _ = _model(store)
    records = data.train[:8]
    batch = collate(records, data.n_target, np.random.default_rng(0), negatives=5)
    assert batch["t_neg"].shape == (*batch["t_pos"].shape, 5)
    valid = batch["t_pos"] > 0
    assert (batch["t_neg"][valid] > 0).all() and (batch["t_neg"][~valid] == 0).all()
    for row, rec in enumerate(records):
        drawn = batch["t_neg"][row][valid[row]].numpy().ravel()
        assert not np.isin(drawn, rec.seen).any()
    pos, neg = torch.tensor([1.0, 2.0]), torch.tensor([[0.0, 3.0], [1.0, 1.0]])
    expect = torch.stack([(bpr_loss(pos[k], neg[k, 0]) + bpr_loss(pos[k], neg[k, 1])) / 2 for k in range(2)])
    assert torch.allclose(bpr_loss(pos, neg), expect)


@pytest.mark.parametrize("keys", [{"loss": "full"}, {"loss": "bce", "negatives": 3}, {"fusion_user": False}])
def test_semacdr_trains_a_step_under_each_loss_and_switch(store, keys):
    cfg, data, model = _model(store, **keys)
    batch = collate(data.train[:16], data.n_target, np.random.default_rng(0), negatives=cfg.negatives)
    out = model([batch])
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and model.enc_target.pos.weight.grad.abs().sum() > 0
    assert len(model.fusion.logits) == (3 if cfg.fusion_user else 2)


# -- the graph shortcut ----------------------------------------------------------------------------------
def test_leave_batch_out_removes_exactly_the_batch_users_own_window_edges():
    windows = [np.array([1, 2, 3]), np.array([2, 3]), np.array([4, 5, 1]), np.array([5, 6])]
    counts = G.WindowCounts(windows, 8)
    batch = [windows[0], windows[3]]
    rows = np.array([0, 1, 2, 3, 5, 6, 7])
    a_rows, a_rows_t = counts.rows_without(batch, rows)
    # the graph built from the other users' windows alone, with every node
    others = G.item_graph([windows[1], windows[2]], 8).to_dense()
    assert torch.allclose(a_rows.to_dense(), others[torch.from_numpy(rows)], atol=1e-6)
    assert torch.allclose(a_rows_t.to_dense(), others[torch.from_numpy(rows)].T, atol=1e-6)
    # 1-2 and 1-3 only user 0 held: gone; 2-3 user 1 holds too: kept; 5-6 only user 3: gone
    dense = a_rows.to_dense()
    assert dense[1, 2] == 0 and dense[1, 3] == 0 and dense[2, 3] > 0 and dense[4, 6] == 0


def test_leave_batch_out_training_tables_differ_only_where_the_batch_windows_reach(store):
    _, data, keep = _model(store)
    _, _, leave = _model(store, graph_shortcut="leave-batch-out")
    leave.load_state_dict(keep.state_dict())
    batch = collate(data.train[:4], data.n_target, np.random.default_rng(0), windows=True)
    with torch.no_grad():
        t_keep, _ = keep.batch_tables([batch])
        t_leave, _ = leave.batch_tables([batch])
        evaluation = [m.tables()["target"] for m in (keep, leave)]
    assert not torch.allclose(t_keep["target"], t_leave["target"])
    assert torch.equal(evaluation[0], evaluation[1])  # evaluation uses the whole graph either way


def test_score_base_scores_against_the_item_table_before_the_graph_layer(store):
    _, _, model = _model(store, graph_shortcut="score-base")
    with torch.no_grad():
        tables = model.tables()
        base = model.semantics.item_embeddings("target")
    assert torch.equal(model.target_table(tables), tables["target_base"])
    assert torch.allclose(tables["target_base"], base)
    assert not torch.allclose(tables["target"], base)


# -- presets ---------------------------------------------------------------------------------------------
def _documented_preset_keys() -> dict[str, set[str]]:
    text = DOCS.read_text()
    section = text[text.index("### Presets") :]
    section = section[: section.index("\n### ", 5)] if "\n### " in section[5:] else section
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name: {r.split("`")[1] for r in rows} for name in PRESETS}


def test_each_preset_sets_exactly_its_documented_keys():
    default = TrainConfig().to_dict()
    documented = _documented_preset_keys()
    for name, keys in PRESETS.items():
        cfg = load_config(None, name, target="food", source="kitchen").to_dict()
        changed = {k for k in default if cfg[k] != default[k]} - {"preset", "source", "target"}
        assert changed <= set(keys), name
        assert {k: cfg[k] for k in keys} == keys
        assert cfg["preset"] == name
        assert set(keys) == documented[name], name


def test_a_file_and_the_command_line_override_the_preset_and_an_unknown_one_is_one_line(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('preset = "fixes"\nloss = "softmax"\n')
    cfg = load_config(toml, target="food", source="kitchen")
    assert cfg.preset == "fixes" and cfg.loss == "softmax" and cfg.graph_shortcut == "leave-batch-out"
    assert load_config(toml, "paper", target="food", source="kitchen").graph_shortcut == "keep"
    with pytest.raises(SemacdrError, match="--preset: unknown preset 'best'"):
        load_config(None, "best", target="food")


def test_a_run_naming_no_preset_starts_from_the_best_measured_one_and_paper_stays_reachable(tmp_path):
    from trainer.presets import DEFAULT

    assert DEFAULT == "fixes"
    cfg = load_config(None, target="food", source="kitchen")
    assert cfg.preset == "fixes" and {k: getattr(cfg, k) for k in PRESETS["fixes"]} == PRESETS["fixes"]
    toml = tmp_path / "c.toml"
    toml.write_text("lam = 0.2\n")  # a file without a preset: the default one under its keys
    from_file = load_config(toml, target="food", source="kitchen")
    assert from_file.preset == "fixes" and from_file.lam == 0.2
    paper = load_config(None, "paper", target="food", source="kitchen")
    assert {k: getattr(paper, k) for k in PRESETS["paper"]} == PRESETS["paper"]
    # SimpGraph's chain graph has no windows to leave out: under the preset it keeps its graph; asked
    # for explicitly, the pair is still refused
    simple = load_config(None, target="food", source="kitchen", ablation=["simple-graph"])
    assert simple.graph_shortcut == "keep" and simple.loss == "full"
    with pytest.raises(SemacdrError, match="leave-batch-out needs the clique graphs"):
        load_config(
            None, target="food", source="kitchen", ablation=["simple-graph"], graph_shortcut="leave-batch-out"
        )


def test_a_recorded_config_without_the_new_keys_reads_as_what_it_trained_with():
    recorded = {k: v for k, v in TrainConfig(target="food").to_dict().items() if k not in PRESETS["paper"]}
    recorded["select_metric"] = "sampled:ndcg@10"
    cfg = TrainConfig.stored(recorded)
    assert {k: getattr(cfg, k) for k in PRESETS["paper"]} == PRESETS["paper"]


@pytest.mark.parametrize(("preset", "loss"), [("paper", "bpr"), ("fixes", "full")])
def test_train_with_a_preset_from_the_cli_records_it_and_evaluates(store, tmp_path, preset, loss):
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["--db", store, "train", "--source", "kitchen", "--target", "food", "--preset", preset,
         "--repeat", "1", "--epochs", "2", "--threads", "1", "--runs-dir", str(tmp_path / "runs")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["--db", store, "runs", "list", "--json"])
    assert res.exit_code == 0, res.output
    last = __import__("json").loads(res.output)[-1]
    assert last["preset"] == preset and last["loss"] == loss
    assert last["test_full_ndcg@10"] is not None and 0 <= last["test_full_ndcg@10"] <= 1
    res = runner.invoke(app, ["--db", store, "train", "--target", "food", "--preset", "nope"])
    assert res.exit_code == 1 and re.fullmatch(r"error: --preset: unknown preset 'nope'.*\n", res.output)


def test_a_step_leaves_out_the_users_whole_graph_window_even_past_max_len(store):
    cfg = TrainConfig(source="kitchen", target="food", max_len=4, graph_shortcut="leave-batch-out").validate()
    data = D.load(store, cfg)
    batch = collate(data.train[:8], data.n_target, np.random.default_rng(0), windows=True)
    graph_windows = {tuple(np.unique(s)) for s in data.target_seqs}
    longer = 0
    for rec, row in zip(data.train[:8], batch["t_seen"].numpy(), strict=True):
        window = row[row > 0]
        assert tuple(window) in graph_windows  # exactly one user's clique in the graph
        assert set(rec.seen) <= set(window)
        longer += len(window) > len(rec.seen)
    assert longer > 0  # max_len cut the training sequences, not the windows left out
    with pytest.raises(SemacdrError, match="leave-batch-out needs the clique graphs"):
        TrainConfig(
            target="food", source="kitchen", ablation=["simple-graph"], graph_shortcut="leave-batch-out"
        ).validate()
