"""Training inputs: what the trainer reads, and that held-out items never leak into training."""

import shutil
import sqlite3

import numpy as np
import pytest
from trainer_synth import build_store

from semacdr_cli.errors import SemacdrError
from trainer import data as D
from trainer import graphs as G
from trainer.config import TrainConfig, load_config


def _cfg(**kw):
    kw.setdefault("ablation", ["no-semantics"])
    return TrainConfig(source="kitchen", target="food", **kw).validate()


def _signature(data):
    recs = [
        (
            r.user,
            r.t_in.tolist(),
            r.t_time.tolist(),
            r.t_pos.tolist(),
            r.s_in.tolist(),
            r.s_time.tolist(),
            r.m_in.tolist(),
        )
        for r in data.train
    ]
    g = {k: v.to_dense().numpy() for k, v in G.build(data).items()}
    return recs, g


def test_held_out_items_and_everything_after_them_never_reach_training_inputs_or_graphs(tmp_path):
    a = build_store(tmp_path / "a.db", users=60, semantics=False)
    b = tmp_path / "b.db"
    shutil.copy(a, b)
    con = sqlite3.connect(b)
    food = con.execute("SELECT id FROM domains WHERE name = 'food'").fetchone()[0]
    # rewrite every held-out target interaction and everything after it (both domains) in store b
    for user, cutoff in con.execute(
        "SELECT user_id, min(position) FROM interactions WHERE domain_id = ? AND split != 'train' GROUP BY user_id",
        (food,),
    ).fetchall():
        rows = con.execute(
            "SELECT id, domain_id FROM interactions WHERE user_id = ? AND position >= ?", (user, cutoff)
        ).fetchall()
        for rid, dom in rows:
            other = con.execute(
                "SELECT id FROM items WHERE domain_id = ? ORDER BY random() LIMIT 1", (dom,)
            ).fetchone()[0]
            con.execute("UPDATE interactions SET item_id = ? WHERE id = ?", (other, rid))
    con.commit()
    con.close()
    da, db_ = D.load(a, _cfg()), D.load(str(b), _cfg())
    recs_a, g_a = _signature(da)
    recs_b, g_b = _signature(db_)
    assert recs_a == recs_b
    for k in g_a:
        assert np.array_equal(g_a[k], g_b[k]), k
    # and the evaluation cases did change (the rewrite touched something)
    assert [c.positive for c in da.cases["test"]] != [c.positive for c in db_.cases["test"]]


def test_every_training_positive_is_predicted_only_from_what_came_before_it(tmp_path):
    data = D.load(build_store(tmp_path / "s.db", users=30, semantics=False), _cfg())
    checked = 0
    for r in data.train:
        for j, t in enumerate(r.t_time):
            # target prefix of step j: the start token and the earlier positives, not the positive
            assert r.t_in[: j + 1].tolist() == [data.n_target + 1] + r.t_pos[:j].tolist()
            # mixed state t covers m_in[: t + 1]; the positive is the next mixed element
            if t + 1 < len(r.m_in):
                assert r.m_in[t + 1] == r.t_pos[j]
                checked += 1
            # source keys visible to step j all come earlier in the mixed window
            visible = r.s_time[r.s_time < t]
            assert visible[0] == -1 and (visible[1:] < t).all()
    assert checked > 0


def test_users_without_a_test_item_are_not_evaluated(tmp_path):
    path = build_store(tmp_path / "s.db", users=20, semantics=False)
    con = sqlite3.connect(path)
    con.execute("DELETE FROM interactions WHERE user_id = 1 AND split = 'test'")
    con.commit()
    con.close()
    data = D.load(path, _cfg())
    assert len(data.cases["test"]) == data.n_users - 1


def test_full_semacdr_without_annotations_says_what_to_run(tmp_path):
    path = build_store(tmp_path / "s.db", users=20, semantics=False)
    with pytest.raises(SemacdrError, match="annotate|embed"):
        D.load(path, _cfg(ablation=[]))
    data = D.load(path, _cfg(ablation=["no-semantics"]))
    assert data.labels_target is None and data.vectors_target is None


def test_config_file_overrides_defaults_and_rejects_unknown_keys(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[train]\nhidden = 32\nlam = 0.2\n")
    cfg = load_config(f, source="kitchen", target="food", epochs=3)
    assert (cfg.hidden, cfg.lam, cfg.epochs, cfg.batch_size) == (32, 0.2, 3, 256)
    f.write_text("hiden = 32\n")
    with pytest.raises(SemacdrError, match="hiden"):
        load_config(f, source="kitchen", target="food")
    with pytest.raises(SemacdrError, match="ablation"):
        load_config(None, source="kitchen", target="food", ablation=["no-such-thing"])


def test_config_file_with_a_wrong_type_names_the_key(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('hidden = "wide"\n')
    with pytest.raises(SemacdrError, match="hidden"):
        load_config(f, source="kitchen", target="food")
