"""The training loop: epochs of BPR (+ contrastive) steps, validation NDCG@10 (sampled protocol)
for early stopping, the best checkpoint in safetensors, a resumable last checkpoint, and
DistributedDataParallel when started under ``torchrun`` with several processes.

Every epoch seeds numpy and torch from (seed, epoch), so a resumed run continues exactly where an
uninterrupted one would be.

Run folder files written here: ``model.safetensors`` (best), ``last.safetensors`` +
``optimizer.pt`` (tensors only, loaded with ``weights_only=True``) + ``state.json`` (resume point),
``metrics.jsonl`` (one line per epoch).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainer.batch import collate
from trainer.evaluate import evaluate_model

BEST, LAST, OPTIM, STATE, METRICS = "model.safetensors", "last.safetensors", "optimizer.pt", "state.json", "metrics.jsonl"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        from semacdr_cli.errors import SemacdrError

        raise SemacdrError("--device cuda: no CUDA device is available here")
    return torch.device(name)


def distributed() -> tuple[int, int]:
    """(rank, world size); starts the process group under torchrun (gloo on CPU, nccl on GPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("SEMACDR_DDP_BACKEND") != "gloo" else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def save_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, path)


def load_weights(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    device = next(model.parameters()).device
    model.load_state_dict(load_file(str(path), device=str(device)))


def length_buckets(order: np.ndarray, records, batch_size: int, rng: np.random.Generator, pool: int = 50) -> list:
    """Batches of similar-length users (less padding), in random order: within each pool of
    ``pool`` batches of the shuffled order, users are sorted by length before being cut."""
    lengths = np.asarray([len(records[i].m_in) + len(records[i].t_in) for i in order])
    batches = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[start : start + span], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def make_optimizer(model, config) -> torch.optim.Optimizer:
    """Adam with two learning rates: the semantic modules get the smaller one (App. E)."""
    semantic = {id(p) for p in model.semantic_parameters()}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in semantic]
    groups = [{"params": rest, "lr": config.lr, "name": "general"}]
    sem = [p for p in model.parameters() if id(p) in semantic]
    if sem:
        groups.append({"params": sem, "lr": config.lr_semantic, "name": "semantic"})
    return torch.optim.Adam(groups, weight_decay=config.weight_decay)


def fit(
    model: torch.nn.Module,
    data,
    config,
    run_dir: str | Path,
    *,
    device: torch.device | str = "cpu",
    progress: bool = True,
    on_epoch: Callable[[dict], None] | None = None,
) -> dict:
    """Train until ``config.epochs`` or early stopping; resumes from ``run_dir`` when it holds a
    last checkpoint. Leaves the best weights in ``model`` and returns the summary."""
    run_dir = Path(run_dir)
    rank, world = distributed()
    device = torch.device(device)
    model.to(device)
    optimizer = make_optimizer(model, config)
    state = {"epoch": -1, "best": -1.0, "best_epoch": None, "bad_epochs": 0, "stopped": False}
    if (run_dir / STATE).exists() and (run_dir / LAST).exists():
        state = json.loads((run_dir / STATE).read_text())
        load_weights(model, run_dir / LAST)
        optimizer.load_state_dict(torch.load(run_dir / OPTIM, map_location=device, weights_only=True))
    ddp = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, find_unused_parameters=True)

    start = state["epoch"] + 1
    for epoch in range(start, config.epochs):
        if state.get("stopped"):
            break
        t0 = time.perf_counter()
        rng = np.random.default_rng([config.seed, epoch])
        torch.manual_seed(config.seed * 100_003 + epoch)
        order = rng.permutation(len(data.train))
        if world > 1:  # equal shards of users, so every rank takes the same number of steps (lockstep)
            order = order[: len(order) - len(order) % world][rank::world]
        batches = length_buckets(order, data.train, config.batch_size, rng)
        model.train()
        sums: dict[str, float] = {}
        bar = _progress(progress and rank == 0, f"epoch {epoch + 1}/{config.epochs}", len(batches))
        with bar as tracker:
            task = tracker.add_task("train", total=len(batches)) if tracker else None
            for idx in batches:
                batch = collate([data.train[i] for i in idx], data.n_target, rng, device)
                out = ddp(batch)
                optimizer.zero_grad(set_to_none=True)
                out["loss"].backward()
                optimizer.step()
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                if tracker:
                    tracker.advance(task)
        losses = {k: v / max(1, len(batches)) for k, v in sums.items()}
        valid = evaluate_model(model, data, config, "valid", protocols=("sampled",), device=device)
        score = valid["sampled"]["ndcg@10"]
        improved = score > state["best"]
        record = {
            "epoch": epoch,
            "loss": losses,
            "valid": valid["sampled"],
            "seconds": round(time.perf_counter() - t0, 3),
            "best": improved,
        }
        if improved:
            state.update(best=score, best_epoch=epoch, bad_epochs=0)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch
        state["stopped"] = state["bad_epochs"] >= config.patience
        if rank == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            if improved:
                save_weights(model, run_dir / BEST)
            save_weights(model, run_dir / LAST)
            torch.save(optimizer.state_dict(), run_dir / OPTIM)
            with open(run_dir / METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            tmp = run_dir / (STATE + ".tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, run_dir / STATE)
        if world > 1:
            import torch.distributed as dist

            dist.barrier()
        if on_epoch is not None:
            on_epoch(record)
    if (run_dir / BEST).exists():
        load_weights(model, run_dir / BEST)
    return {"best_epoch": state["best_epoch"], "best_valid_ndcg@10": state["best"], "epochs": state["epoch"] + 1}


class _NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _progress(show: bool, label: str, total: int):
    if not show:
        return _NoBar()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    )
