"""A tiny training on the embedded synthetic demo data (book/movie) beats the random level."""

import numpy as np
import pytest

from semacdr_cli.datasets.demo import write_demo
from semacdr_cli.ingest import import_demo
from semacdr_cli.store import Store
from trainer import api
from trainer import data as D
from trainer.config import TrainConfig


@pytest.mark.slow
@pytest.mark.parametrize(("model", "ablation"), [("cd-sasrec", None), ("semacdr", ["no-semantics"])])
def test_tiny_training_on_demo_data_reaches_hr10_clearly_above_random(tmp_path, model, ablation):
    # the demo's item graphs are nearly complete (48 items, hundreds of users): SemaCDR must not
    # over-smooth its items into one vector there (the GCN residual, docs/trainer.md)
    out = tmp_path / "demo"
    write_demo(out, users=300)
    db = tmp_path / "demo.db"
    with Store(db) as s:
        import_demo(s, out)
    cfg = TrainConfig(source="book", target="movie", model=model, ablation=ablation or []).validate()
    data = D.load(str(db), cfg)
    # random ranking: 10 hits in (1 + negatives) candidates per case
    random_hr10 = float(
        np.mean([min(1.0, 10 / (1 + min(100, data.n_target - len(c.own)))) for c in data.cases["test"]])
    )
    [run] = api.train(
        db,
        source="book",
        target="movie",
        model=model,
        ablation=ablation,
        epochs=8,
        runs_dir=tmp_path / "runs",
        progress=False,
        overrides={"hidden": 32, "dropout": 0.2, "lr": 3e-3},
    )
    result = api.evaluate(db, run)
    assert result["sampled"]["hr@10"] > 1.5 * random_hr10, (result["sampled"], random_hr10)
