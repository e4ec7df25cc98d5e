"""One run: its inputs read from the store (data, graphs, device, model builder) and its training,
evaluation and record; what ``api.train`` does for each seed, in turn or in a process of its own
(``trainer.parallel``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semacdr_cli.store import Store
from semacdr_cli.store import training as q
from trainer.config import TrainConfig


@dataclass(frozen=True)
class RunInputs:
    """What a config's runs read, built once and shared by its seeds."""

    data: Any  # trainer.data.CDData
    graphs: dict
    device: Any  # torch.device
    build_model: Callable


def setup(store: Store, cfg: TrainConfig, build_graphs: bool = True) -> RunInputs:
    """The inputs of a config's runs; ``build_graphs`` False skips the graphs."""
    from trainer import data as data_mod
    from trainer import graphs
    from trainer.loop import resolve_device
    from trainer.models import build_model

    data = data_mod.load(store, cfg)
    g = (
        graphs.build(data, simple=cfg.has("simple-graph"), edges=cfg.graph_edges)
        if cfg.model == "semacdr" and build_graphs
        else {}
    )
    device = resolve_device(cfg.device)
    return RunInputs(data, g, device, build_model)


def fit_run(store: Store, cfg: TrainConfig, run_id: int, run_dir: Path, inputs: RunInputs, *, progress=True,
            on_epoch=None, rank: int = 0) -> None:  # fmt: skip
    """Train one registered run (model built after seeding torch and numpy with its seed), evaluate it
    on the validation and test splits and record it in the store."""
    import numpy as np
    import torch

    from trainer.loop import fit

    data, dev = inputs.data, inputs.device
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % (2**32))
    net = inputs.build_model(cfg, data, inputs.graphs)
    try:
        summary = fit(net, data, cfg, run_dir, device=dev, progress=progress, on_epoch=on_epoch)
    except Exception:  # an interrupt (KeyboardInterrupt) leaves the run resumable
        if rank == 0:
            q.finish_run(store, run_id, status="failed", best_epoch=None, metrics=None)
        raise
    if rank == 0:
        from trainer.evaluate import evaluate_model

        metrics = {s: evaluate_model(net, data, cfg, s, device=dev) for s in ("valid", "test")}
        metrics["train"] = summary
        (run_dir / "eval.json").write_text(json.dumps(metrics, indent=2))
        q.finish_run(store, run_id, status="finished", best_epoch=summary["best_epoch"], metrics=metrics)
