"""A run's registration: its row in the store's runs registry and its folder (config, versions and data
summary written), made together so that no row is left without its folder."""

from __future__ import annotations

import json
import platform
import uuid
from pathlib import Path

import numpy as np

from semacdr_cli.errors import SemacdrError
from semacdr_cli.store import Store
from semacdr_cli.store import training as q
from trainer.config import TrainConfig


def versions() -> dict:
    import safetensors
    import torch

    import semacdr_cli
    from trainer.threads import machine

    return {
        "machine": machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "semacdr": semacdr_cli.__version__,
    }


def folder_name(run_id: int) -> str:
    """A run's folder name under its runs folder (``run-0042``)."""
    return f"run-{run_id:04d}"


def run_folder(runs_dir: Path, run_id: int) -> Path:
    """``runs_dir/run-<id>``, made; a non-empty one (another store's run with the same id shares this
    runs folder) is never resumed or overwritten: the new run gets a suffixed folder beside it."""
    path = (runs_dir / folder_name(run_id)).resolve()
    try:
        if path.is_dir() and any(path.iterdir()):
            path = path.with_name(f"{path.name}-{uuid.uuid4().hex[:8]}")
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SemacdrError(f"cannot make the run folder ({exc.strerror})", path=str(runs_dir)) from exc
    return path


def register(
    store: Store, cfg: TrainConfig, data, group, runs_dir: Path, rank: int, world: int, jobs: int = 1
) -> int:
    """Rank 0 registers the run and writes its folder; other ranks learn the id from it."""
    run_id = None
    if rank == 0:
        recorded = {**versions(), "jobs": jobs}
        made: list[Path] = []

        def folder(run_id: int) -> str:  # made inside the row's transaction
            made.append(run_folder(runs_dir, run_id))
            return str(made[-1])

        run_id = q.create_run(
            store,
            dataset_id=data.dataset_id,
            model=cfg.model,
            source_domain=cfg.source or None,
            target_domain=cfg.target,
            ablation=",".join(cfg.ablation) or None,
            seed=cfg.seed,
            group_id=group,
            run_dir=folder,
            config=cfg.to_dict(),
            taxonomy_id=data.taxonomy_id,
            embedding_model=data.embedding_model,
            versions=recorded,
        )
        run_dir = made[-1]
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        (run_dir / "versions.json").write_text(json.dumps({**recorded, "seed": cfg.seed}, indent=2))
        (run_dir / "data.json").write_text(json.dumps(data.summary(), indent=2))
    if world > 1:
        import torch.distributed as dist

        box = [run_id]
        dist.broadcast_object_list(box, src=0)
        run_id = box[0]
    return int(run_id)
