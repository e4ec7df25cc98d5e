"""The training loop: epochs of recommendation-loss (+ contrastive) steps over shuffled batches
computed as length-sorted micro-batches, a validation every ``eval_every`` epochs on
``select_metric`` for early stopping (patience counted in validations), the best checkpoint in
safetensors, a resumable last checkpoint (written at every validation), and DistributedDataParallel
when started under ``torchrun`` with several processes.

Every epoch seeds numpy and torch from (seed, epoch), so a resumed run continues exactly where an
uninterrupted one would be: the epochs after its last validation are trained again, identically.

Run folder files written here: ``model.safetensors`` (best), ``last.safetensors`` +
``optimizer.pt`` (tensors only, loaded with ``weights_only=True``) + ``state.json`` (resume point),
``metrics.jsonl`` (one line per epoch).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainer.batch import collate
from trainer.evaluate import evaluate_model

BEST, LAST, OPTIM, STATE, METRICS = (
    "model.safetensors",
    "last.safetensors",
    "optimizer.pt",
    "state.json",
    "metrics.jsonl",
)


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
        backend = (
            "nccl"
            if torch.cuda.is_available() and os.environ.get("SEMACDR_DDP_BACKEND") != "gloo"
            else "gloo"
        )
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


def make_batches(order: np.ndarray, records, config, rng: np.random.Generator) -> list[np.ndarray]:
    """The epoch's batches of users. ``shuffle`` (default): consecutive slices of the shuffled order,
    so every batch is a random sample of users. ``bucket`` (the earlier scheme): users sorted by
    length within pools of 50 batches, so batches hold sequences of one length."""
    size = config.batch_size
    if config.batching == "shuffle":
        return [order[i : i + size] for i in range(0, len(order), size)]
    lengths = np.asarray([len(records[i].m_in) + len(records[i].t_in) for i in order])
    batches = []
    span = size * 50
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(lengths[start : start + span], kind="stable")]
        batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def micro_batches(idx: np.ndarray, records, parts: int, piece_cost: int = 0) -> list[np.ndarray]:
    """The users of one batch cut into at most ``parts`` groups of similar length: sorted by length,
    then cut where the padded area (sum over groups of users x longest sequence) plus ``piece_cost``
    per group is smallest, so the few long sequences of a batch do not pad the many short ones, and
    short, even sequences are not cut into pieces whose per-call cost outweighs the padding they save.
    Which users form the batch does not change, nor (with per-instance normalisation) its loss."""
    if parts <= 1 or len(idx) <= parts:
        return [idx]
    lengths = np.asarray([len(records[i].m_in) + len(records[i].t_in) + len(records[i].s_in) for i in idx])
    order = np.argsort(lengths, kind="stable")
    bounds = _least_padding_cuts(lengths[order], parts, piece_cost)
    return [idx[order[a:b]] for a, b in itertools.pairwise(bounds)]


def _least_padding_cuts(sorted_lengths: np.ndarray, parts: int, piece_cost: float = 0) -> list[int]:
    """Boundaries 0 = b0 < ... < b_k = n, k <= ``parts``, of ascending ``sorted_lengths`` minimising
    sum_g (b_g - b_{g-1}) * sorted_lengths[b_g - 1] + k * ``piece_cost`` (a dynamic programme over the
    cut positions). More groups never pad more, so with ``piece_cost`` 0 it uses all ``parts``."""
    n = len(sorted_lengths)
    ends = np.arange(n + 1)
    longest = np.concatenate([[0], sorted_lengths]).astype(np.float64)  # longest[j]: length at end j
    area = (ends[:, None] - ends[None, :]) * longest[:, None]  # area[j, i]: users i..j-1 as one group
    area[ends[None, :] >= ends[:, None]] = np.inf  # a group is not empty
    best = np.where(ends == 0, 0.0, np.inf)  # best[j]: least area of the first j users in k groups
    back, total = [], []
    for k in range(1, parts + 1):
        cost = best[None, :] + area
        arg = cost.argmin(1)
        back.append(arg)
        best = cost[ends, arg]
        total.append(best[n] + k * piece_cost)
    k = parts if piece_cost <= 0 else int(np.argmin(total)) + 1  # the fewest groups among the cheapest
    bounds = [n]
    for arg in reversed(back[:k]):
        bounds.append(int(arg[bounds[-1]]))
    return bounds[::-1]


def step_parts(idx: np.ndarray, data, config, rng: np.random.Generator, device="cpu") -> list[dict]:
    """The micro-batches of one training step, collated as training reads them (negatives, windows)."""
    return [
        collate(
            [data.train[i] for i in chunk],
            data.n_target,
            rng,
            device,
            config.negatives,
            windows=config.graph_shortcut == "leave-batch-out",
        )
        for chunk in micro_batches(idx, data.train, config.micro_batches, config.micro_batch_cost)
    ]


def steps_per_batch(records, batch_size: int) -> float:
    """The expected number of target steps (training instances) in a batch of ``batch_size`` users."""
    steps = sum(int((r.t_pos > 0).sum()) for r in records)
    return batch_size * steps / max(1, len(records))


def make_optimizer(model, config) -> torch.optim.Optimizer:
    """Adam with two learning rates: the semantic modules get the smaller one (App. E)."""
    semantic = {id(p) for p in model.semantic_parameters()}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in semantic]
    groups = [{"params": rest, "lr": config.lr, "name": "general"}]
    sem = [p for p in model.parameters() if id(p) in semantic]
    if sem:
        groups.append({"params": sem, "lr": config.lr_semantic, "name": "semantic"})
    return torch.optim.Adam(
        groups, betas=(0.9, config.adam_beta2), weight_decay=config.weight_decay, fused=True
    )


def selection_score(valid: dict, config) -> float:
    protocol, _, metric = config.select_metric.partition(":")
    return float(valid[protocol][metric])


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
    """Train until early stopping (``patience`` validations every ``eval_every`` epochs without a
    better ``select_metric``) or the ``epochs`` cap; resumes from ``run_dir`` when it holds a last
    checkpoint. Leaves the best weights in ``model`` and returns the summary, which says whether the
    run stopped by itself or hit the cap."""
    run_dir = Path(run_dir)
    rank, world = distributed()
    device = torch.device(device)
    model.to(device)
    model.steps_per_batch = steps_per_batch(data.train, config.batch_size)
    optimizer = make_optimizer(model, config)
    state = {"epoch": -1, "best": -1.0, "best_epoch": None, "bad_evals": 0, "stopped": False, "evals": 0}
    if (run_dir / STATE).exists() and (run_dir / LAST).exists():
        state |= json.loads((run_dir / STATE).read_text())
        load_weights(model, run_dir / LAST)
        optimizer.load_state_dict(torch.load(run_dir / OPTIM, map_location=device, weights_only=True))
    if rank == 0:  # epochs after the last checkpoint are trained again: their lines go
        _keep_metrics_through(run_dir / METRICS, state["epoch"])
    ddp = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, find_unused_parameters=True)
    protocols = ("sampled", "full") if config.select_metric.startswith("full") else ("sampled",)

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
        batches = make_batches(order, data.train, config, rng)
        model.train()
        sums: dict[str, float] = {}
        bar = _progress(progress and rank == 0, f"epoch {epoch + 1}/{config.epochs}", len(batches))
        with bar as tracker:
            task = tracker.add_task("train", total=len(batches)) if tracker else None
            for idx in batches:
                out = ddp(step_parts(idx, data, config, rng, device))
                optimizer.zero_grad(set_to_none=True)
                out["loss"].backward()
                optimizer.step()
                for k, v in out.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach())
                if tracker:
                    tracker.advance(task)
        train_seconds = time.perf_counter() - t0
        record = {
            "epoch": epoch,
            "loss": {k: v / max(1, len(batches)) for k, v in sums.items()},
            "train_seconds": round(train_seconds, 3),
        }
        last_epoch = epoch == config.epochs - 1
        improved = False
        if (epoch + 1) % config.eval_every == 0 or last_epoch:
            valid = evaluate_model(model, data, config, "valid", protocols=protocols, device=device)
            score = selection_score(valid, config)
            improved = score > state["best"]
            record["valid"] = valid["sampled"]
            if "full" in valid:
                record["valid_full"] = valid["full"]
            record["best"] = improved
            state["evals"] = state.get("evals", 0) + 1
            if improved:
                state.update(best=score, best_epoch=epoch, bad_evals=0)
            else:
                state["bad_evals"] = state.get("bad_evals", 0) + 1
            state["stopped"] = state["bad_evals"] >= config.patience
        record["seconds"] = round(time.perf_counter() - t0, 3)
        state["epoch"] = epoch
        if rank == 0:
            run_dir.mkdir(parents=True, exist_ok=True)
            if improved:
                save_weights(model, run_dir / BEST)
            if "valid" in record:  # the resume point, written at validations (the last epoch validates)
                save_weights(model, run_dir / LAST)
                torch.save(optimizer.state_dict(), run_dir / OPTIM)
                tmp = run_dir / (STATE + ".tmp")
                tmp.write_text(json.dumps(state))
                os.replace(tmp, run_dir / STATE)
            with open(run_dir / METRICS, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        if world > 1:
            import torch.distributed as dist

            dist.barrier()
        if on_epoch is not None:
            on_epoch(record)
    if (run_dir / BEST).exists():
        load_weights(model, run_dir / BEST)
    epochs_run = state["epoch"] + 1
    return {
        "best_epoch": state["best_epoch"],
        "best_valid": state["best"],
        "select_metric": config.select_metric,
        "epochs": epochs_run,
        "evaluations": state.get("evals", 0),
        "stopped_early": bool(state.get("stopped")),
        "hit_cap": not state.get("stopped") and epochs_run >= config.epochs,
    }


def _keep_metrics_through(path: Path, epoch: int) -> None:
    """Drop the lines of ``path`` (metrics.jsonl) for epochs after ``epoch``."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if _epoch_of(line) <= epoch]  # a line cut short by a kill goes too
    if len(kept) != len(lines):
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(kept), encoding="utf-8")
        os.replace(tmp, path)


def _epoch_of(line: str) -> float:
    try:
        return json.loads(line)["epoch"] if line.endswith("\n") else float("inf")
    except (ValueError, KeyError, TypeError):
        return float("inf")


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
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
