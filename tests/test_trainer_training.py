"""Training end to end on the synthetic store: the CLI, the run folder, learning, reload, resume."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from trainer_synth import build_store
from typer.testing import CliRunner

from semacdr_cli.app import app
from trainer import api

runner = CliRunner()
SMALL = {"hidden": 32, "dropout": 0.1, "patience": 50}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("train") / "s.db", users=160)


@pytest.mark.slow
def test_train_cli_learns_well_above_random_and_reloads_to_identical_metrics(store, tmp_path):
    cfg = tmp_path / "small.toml"
    cfg.write_text("hidden = 32\ndropout = 0.1\neval_every = 1\n")
    runs = tmp_path / "runs"
    res = runner.invoke(
        app,
        [
            "train",
            "--db",
            store,
            "--source",
            "kitchen",
            "--target",
            "food",
            "--epochs",
            "4",
            "--repeat",
            "1",
            "--config",
            str(cfg),
            "--runs-dir",
            str(runs),
            "--seed",
            "3",
        ],
    )
    assert res.exit_code == 0, res.output
    run_id = int(res.output.strip().splitlines()[-1])  # the id is the last line
    folder = runs / f"run-{run_id:04d}"
    for name in (
        "config.json",
        "versions.json",
        "metrics.jsonl",
        "model.safetensors",
        "last.safetensors",
        "optimizer.pt",
        "state.json",
        "eval.json",
    ):
        assert (folder / name).exists(), name
    epochs = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == list(range(4))
    assert {"epoch", "loss", "valid", "seconds"} <= set(epochs[0]) and "contrastive" in epochs[0]["loss"]
    assert json.loads((folder / "config.json").read_text())["seed"] == 3
    assert "torch" in json.loads((folder / "versions.json").read_text())

    res = runner.invoke(app, ["eval", str(run_id), "--db", store, "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert set(result["sampled"]) == {"hr@5", "hr@10", "ndcg@5", "ndcg@10"} and "full" in result
    # random level: 10 of the candidates (the positive and its sampled negatives) per case
    data_neg = min(100, 48 - 7)
    random_hr10 = 10 / (1 + data_neg)
    assert result["sampled"]["hr@10"] > 2.5 * random_hr10
    # the stored end-of-training metrics came from the same best checkpoint the evaluation reloaded
    stored = json.loads((folder / "eval.json").read_text())["test"]
    assert stored["sampled"] == pytest.approx(result["sampled"]) and stored["full"] == pytest.approx(
        result["full"]
    )
    # without RUN, eval takes the most recent run
    res2 = runner.invoke(app, ["eval", "--db", store, "--json", "--split", "valid"])
    assert res2.exit_code == 0 and json.loads(res2.output)["run"] == run_id
    # item representations after the graph module, for the t-SNE plot
    reps, domains = api.item_representations(store, run_id)
    plain, _ = api.item_representations(store, run_id, with_agnostic=False)
    assert reps.shape == (48 + 64, 32) and domains.count("food") == 48 and domains.count("kitchen") == 64
    assert not (reps == plain).all()


def test_interrupted_run_resumes_where_it_stopped_and_matches_an_uninterrupted_one(store, tmp_path):
    common = {"target": "food", "model": "sasrec", "epochs": 4, "progress": False,
              "overrides": {**SMALL, "eval_every": 2}}  # fmt: skip
    [ref] = api.train(store, runs_dir=tmp_path / "a", seed=5, **common)

    class Stop(KeyboardInterrupt):
        pass

    def stop_after_third(record):
        if record["epoch"] == 2:
            raise Stop

    with pytest.raises(Stop):
        api.train(store, runs_dir=tmp_path / "b", seed=5, on_epoch=stop_after_third, **common)
    [folder] = (tmp_path / "b").glob("run-*")
    assert json.loads((folder / "state.json").read_text())["epoch"] == 1  # the checkpoint: its validation
    with open(folder / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "lo')  # a line cut short by a kill
    # the same command again picks the unfinished run up from its last checkpoint and trains epoch 2 again
    [resumed] = api.train(store, runs_dir=tmp_path / "b", seed=5, **common)
    folder = tmp_path / "b" / f"run-{resumed['id']:04d}"
    epochs = [json.loads(line)["epoch"] for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [0, 1, 2, 3]
    a = load_file(str(tmp_path / "a" / f"run-{ref['id']:04d}" / "last.safetensors"))
    b = load_file(str(folder / "last.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_unfinished_run_recorded_before_a_key_existed_still_resumes(store, tmp_path):
    from semacdr_cli.store import Store
    from semacdr_cli.store import training as q

    common = {"target": "food", "model": "sasrec", "epochs": 2, "progress": False, "overrides": SMALL}

    def stop(record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.train(store, runs_dir=tmp_path, seed=7, on_epoch=stop, **common)
    with Store(store, create=False) as s:
        [row] = [r for r in q.list_runs(s) if r["status"] == "running" and r["seed"] == 7]
        older = {k: v for k, v in row["config"].items() if k not in ("pack_tokens", "encoders")}
        with s.transaction() as c:
            c.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(older), row["id"]))
    [resumed] = api.train(store, runs_dir=tmp_path, seed=7, **common)
    assert resumed["id"] == row["id"] and resumed["status"] == "finished"


def test_repeat_trains_a_group_and_eval_reports_mean_and_std(store, tmp_path):
    ids = api.train(
        store,
        target="food",
        model="sasrec",
        epochs=1,
        repeat=2,
        runs_dir=tmp_path,
        progress=False,
        overrides=SMALL,
    )
    assert len(ids) == 2
    assert all(r["status"] == "finished" and r["metrics"]["train"]["epochs"] == 1 for r in ids)  # records
    ids = [r["id"] for r in ids]
    result = api.evaluate(store, ids[0])
    assert result["runs"] == ids and set(result["std"]) == {"sampled", "full"}
    res = runner.invoke(
        app, ["eval", "--db", store, "--json", "--compare", str(ids[0]), "--compare", str(ids[1])]
    )
    assert res.exit_code == 0, res.output
    assert [r["run"] for r in json.loads(res.output)] == ids
    res = runner.invoke(app, ["eval", "--db", store, "--compare", str(ids[0]), "--compare", str(ids[1])])
    assert res.exit_code == 0 and "group" in res.output


def test_bad_training_input_is_one_line_and_registers_nothing(store, tmp_path):
    for args, word in (
        (["--source", "kitchen", "--target", "nope"], "nope"),
        (["--target", "food", "--source", "kitchen", "--ablation", "no-such"], "no-such"),
        (["--target", "food", "--model", "sasrec", "--ablation", "no-semantics"], "ablation"),
        (["--target", "food", "--source", "food"], "different"),
    ):
        res = runner.invoke(
            app, ["train", "--db", store, "--runs-dir", str(tmp_path), "--repeat", "1", *args]
        )
        assert res.exit_code != 0
        assert "Traceback" not in res.output and word in res.output
    assert not list(Path(tmp_path).glob("run-*"))


def test_a_run_whose_folder_cannot_be_made_is_one_line_and_leaves_no_row(tmp_path):
    from semacdr_cli.store import Store

    db = build_store(tmp_path / "s.db", users=40)
    blocked = tmp_path / "runs"
    blocked.write_text("a file where the runs folder should be")
    res = runner.invoke(
        app, ["train", "--db", db, "--runs-dir", str(blocked), "--target", "food", "--model", "sasrec",
              "--repeat", "1", "--epochs", "1"],
    )  # fmt: skip
    assert res.exit_code != 0 and "Traceback" not in res.output
    assert str(blocked) in res.output.replace("\n", "")
    with Store(db) as store:
        assert store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


def test_two_stores_sharing_a_runs_folder_never_resume_each_others_runs(tmp_path):
    runs = tmp_path / "runs"
    first = build_store(tmp_path / "a.db", users=40)
    second = build_store(tmp_path / "b.db", users=40, seed=1)
    [a] = api.train(
        first, target="food", model="sasrec", epochs=1, runs_dir=runs, progress=False, overrides=SMALL
    )
    [b] = api.train(
        second,
        source="kitchen",
        target="food",
        model="cd-sasrec",
        epochs=1,
        runs_dir=runs,
        progress=False,
        overrides=SMALL,
    )
    assert a["id"] == b["id"] == 1  # each store numbers its own runs
    dirs = sorted(p.name for p in runs.iterdir())
    assert len(dirs) == 2 and dirs[0] == "run-0001" and dirs[1].startswith("run-0001-")
    assert api.evaluate(second, b)["model"] == "cd-sasrec"


def test_seeds_trained_side_by_side_match_the_same_seeds_trained_in_turn(store, tmp_path):
    common = {"target": "food", "model": "sasrec", "epochs": 2, "repeat": 2, "progress": False,
              "overrides": {**SMALL, "threads": 1}}  # fmt: skip
    in_turn = api.train(store, runs_dir=tmp_path / "a", seed=7, **common)
    seen = []
    side = api.train(store, runs_dir=tmp_path / "b", seed=7, jobs=2, on_epoch=seen.append, **common)
    assert [r["seed"] for r in side] == [7, 8] and all(r["status"] == "finished" for r in side)
    assert len(seen) == 4  # every epoch record of both runs reached the caller
    for a, b in zip(in_turn, side, strict=True):
        assert b["metrics"]["test"] == a["metrics"]["test"]  # same seed, same threads: same model
        assert json.loads((Path(b["run_dir"]) / "versions.json").read_text())["jobs"] == 2
    res = runner.invoke(
        app, ["train", "--db", store, "--target", "food", "--model", "sasrec", "--jobs", "-1"]
    )
    assert res.exit_code != 0 and "--jobs" in res.output and "Traceback" not in res.output


def test_the_same_repeat_command_after_a_kill_completes_its_group_without_training_a_seed_twice(
    store, tmp_path
):
    """Found by bench/soak_kill.py: a `--repeat` command run again after a kill trained its finished
    seeds a second time in a new group."""
    from semacdr_cli.store import Store
    from semacdr_cli.store import training as q

    common = {"target": "food", "model": "sasrec", "epochs": 2, "progress": False, "overrides": SMALL,
              "seed": 11, "repeat": 3, "runs_dir": tmp_path, "jobs": 1}  # fmt: skip
    seen = []

    def kill_in_second_seed(record):
        seen.append(record)
        if len(seen) == 3:  # seed 11 finished its two epochs; seed 12 is in its first
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        api.train(store, on_epoch=kill_in_second_seed, **common)
    with Store(store, create=False) as s:
        before = {r["id"]: r for r in q.list_runs(s) if r["seed"] in (11, 12, 13) and r["model"] == "sasrec"}
    assert sorted(r["status"] for r in before.values()) == [
        "finished",
        "running",
        "running",
    ]  # all registered first
    done = api.train(store, **common)
    with Store(store, create=False) as s:
        after = [r for r in q.list_runs(s) if r["seed"] in (11, 12, 13) and r["model"] == "sasrec"]
    assert len(after) == 3 and {r["status"] for r in after} == {"finished"}
    assert len({r["group_id"] for r in after}) == 1
    assert set(before) <= {r["id"] for r in after}  # the finished seed kept, the killed one resumed
    assert [r["seed"] for r in done] == [11, 12, 13]
