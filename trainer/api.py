"""The trainer's public API, what the CLI calls. Every entry point takes an open ``Store`` (or a
path, opened and closed here); a run is given by its id or its record.

    train(store, source=..., target=..., ...) -> [run records]
    run_record(store, run) -> the store's record of a run (config, metrics, versions + machine, ...)
    evaluate(store, run=None, split="test") -> {"run", "runs", "split", "sampled", "full", ...}
    compare(store, runs, split="test") -> [evaluate(...) per run]
    item_representations(store, run, with_agnostic=True) -> (array, domains)

Run folder (``<runs_dir>/run-<id>``): ``config.json`` (resolved config), ``versions.json`` (library
versions, seed), ``data.json`` (what was read), ``metrics.jsonl`` (per epoch), ``model.safetensors``
(best), ``last.safetensors`` + ``optimizer.pt`` + ``state.json`` (resume), ``eval.json`` (final metrics).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from semacdr_cli.errors import SemacdrError
from semacdr_cli.store import Store
from semacdr_cli.store import training as q
from trainer.config import DEFAULT_PRESET, MODELS, TrainConfig, load_config  # noqa: F401 (the CLI's help)
from trainer.registry import register
from trainer.run import RunInputs, fit_run, setup


@contextmanager
def opened(store: Store | str | Path):
    """``store`` itself when it is an open Store (left open), else the store at that path."""
    if isinstance(store, Store):
        yield store
        return
    s = Store(store, create=False)
    try:
        yield s
    finally:
        s.close()


def run_id_of(run) -> int:
    """A run's id from its id or its record."""
    return int(run["id"]) if isinstance(run, dict) else int(run)


@dataclass(frozen=True)
class TrainRequest:
    """What ``train`` is asked for (its keyword arguments); None = the config's value."""

    source: str | None = None
    target: str | None = None
    model: str | None = None
    ablation: list[str] | None = None
    config_path: str | Path | None = None
    seed: int | None = None
    epochs: int | None = None
    device: str | None = None
    dataset: str | None = None
    repeat: int = 1
    runs_dir: str | Path = "runs"
    resume: int | None = None
    progress: bool = True
    on_epoch: Callable | None = None
    overrides: dict | None = None
    jobs: int = 1
    preset: str | None = None

    def config(self) -> TrainConfig:
        """Defaults, preset, file, then these arguments (trainer.config.load_config)."""
        return load_config(
            self.config_path, self.preset, source=self.source, target=self.target, model=self.model,
            seed=self.seed, epochs=self.epochs, device=self.device, dataset=self.dataset,
            ablation=self.ablation or None, **(self.overrides or {}),
        )  # fmt: skip


def train(store: Store | str | Path, **request) -> list[dict]:
    """Train ``repeat`` seeds (seed, seed+1, ...); return their run records. The keyword arguments are
    ``TrainRequest``'s. ``resume`` continues a run from its last checkpoint; an unfinished run with the
    same config is resumed automatically. ``jobs``: seeds trained side by side, each in a process of
    its own with its share of the cores (0: one per free core); ``on_epoch`` then sees each run's epoch
    records as they arrive. ``preset``: a named set of keys (``trainer.presets``) under the config
    file's and the other arguments."""
    unknown = sorted(set(request) - {f.name for f in fields(TrainRequest)})
    if unknown:
        raise TypeError(f"train() got unexpected keyword arguments: {', '.join(unknown)}")
    with opened(store) as s:
        return _train(s, TrainRequest(**request))


def _prepare(store: Store, req: TrainRequest) -> tuple[list, str | None]:
    """Read and validate: the (config, unfinished run or None) pairs to train and the group id,
    before any data is loaded or a model is built."""
    if req.resume is not None:
        row = q.get_run(store, int(req.resume))
        if row is None:
            raise SemacdrError(f"--resume: no run {req.resume} in the store")
        if row["status"] == "finished":
            raise SemacdrError(f"--resume: run {req.resume} has already finished")
        return [(TrainConfig.stored(row["config"]).validate(), row)], row["group_id"]
    if req.repeat < 1:
        raise SemacdrError("--repeat: must be at least 1")
    base = req.config()
    ds_id = store.dataset(base.dataset)["id"]
    for name in (base.target, base.source):  # an unknown domain fails here, before any data is read
        if name:
            store.domain(ds_id, name)
    cfgs = [base.with_overrides(seed=base.seed + k).validate() for k in range(req.repeat)]
    runs = q.list_runs(store)
    wanted = [c.to_dict() for c in cfgs]
    group = _interrupted_group(runs, wanted) if req.repeat > 1 else None
    group = group or (uuid.uuid4().hex[:12] if req.repeat > 1 else None)
    # the same command again: a finished member of the group is kept, an interrupted run resumes
    kept = [r for r in runs if r["status"] == "finished" and group and r["group_id"] == group]
    running = [r for r in runs if r["status"] == "running" and r["run_dir"] and Path(r["run_dir"]).exists()]
    running.sort(key=lambda r: r["group_id"] != group)  # the group's own first

    def earlier(c: TrainConfig):  # recorded before a key existed: that key's old value (TrainConfig.stored)
        want = c.to_dict()
        return next((r for r in kept + running if _recorded(r["config"]) == want), None)

    return [(c, earlier(c)) for c in cfgs], group


def _interrupted_group(runs: list, wanted: list[dict]) -> str | None:
    """The latest ``--repeat`` group this request would have made whose seeds did not all finish (its
    command was interrupted): running the command again completes it instead of starting anew."""
    groups: dict[str, list] = {}
    for r in runs:
        if r["group_id"]:
            groups.setdefault(r["group_id"], []).append(r)
    for gid, members in sorted(groups.items(), key=lambda g: -max(r["id"] for r in g[1])):
        configs = [_recorded(r["config"]) for r in members]
        finished = sum(r["status"] == "finished" for r in members)
        if all(c in wanted for c in configs) and finished < len(wanted):
            return gid
    return None


def _recorded(config: dict) -> dict | None:
    """A recorded config as today's keys read it (None when it no longer reads)."""
    try:
        return TrainConfig.stored(config).to_dict()
    except SemacdrError:
        return None


def _train(store: Store, req: TrainRequest) -> list[dict]:
    """Prepare (validate), then run: load the data once, train and evaluate each seed, write through
    the store; with ``jobs`` > 1 the seeds train side by side in processes of their own."""
    from trainer.loop import distributed
    from trainer.threads import apply_threads

    cfgs, group = _prepare(store, req)
    rank, world = distributed()
    jobs, threads = _jobs(req.jobs, cfgs, world, store)
    apply_threads(threads)  # before torch starts its pools; side by side, each run's share (recorded so)

    ids, todo, inputs = [], [], None
    for cfg, row in cfgs:
        if row is None:
            if inputs is None:  # side by side, each process builds its own graphs
                inputs = setup(store, cfg, build_graphs=jobs == 1)
            run_id = register(store, cfg, inputs.data, group, Path(req.runs_dir), rank, world, jobs)
            run_dir = Path(q.get_run(store, run_id)["run_dir"])
        elif row["status"] == "finished":  # a member of the interrupted group that finished: kept
            ids.append(int(row["id"]))
            continue
        else:
            run_id, run_dir = int(row["id"]), Path(row["run_dir"])
        ids.append(run_id)
        todo.append((cfg, run_id, run_dir))
    if jobs > 1:
        from trainer.parallel import train_side_by_side

        train_side_by_side(store.path, todo, jobs, threads, req.progress, req.on_epoch)
    else:
        for cfg, run_id, run_dir in todo:
            if inputs is None:
                inputs = setup(store, cfg)
            fit_run(
                store, cfg, run_id, run_dir, inputs, progress=req.progress, on_epoch=req.on_epoch, rank=rank
            )
    return [q.get_run(store, i) or {"id": i} for i in ids]


def _jobs(jobs: int, cfgs: list, world: int, store: Store) -> tuple[int, int]:
    """(runs side by side, torch threads per run): ``jobs`` 0 is one run per free core; one at a time
    under torchrun, on a GPU, for one seed or a store without a file."""
    from trainer.threads import choose_threads

    cfg = cfgs[0][0]
    if jobs < 0:
        raise SemacdrError("--jobs: must be 0 (one per free core) or more")
    if jobs == 1 or len(cfgs) == 1 or world > 1 or not store.path.is_file():
        return 1, cfg.threads  # 0: apply_threads takes the free cores
    cores = choose_threads(0)
    if jobs == 0:
        jobs = 1 if cfg.device.startswith("cuda") else cores
    jobs = min(jobs, len(cfgs))
    return jobs, cfg.threads or max(1, cores // jobs)


def is_main_process() -> bool:
    """False on the ranks > 0 of a ``torchrun`` job (they print and write nothing)."""
    from trainer.loop import distributed

    return distributed()[0] == 0


def run_record(store: Store | str | Path, run) -> dict:
    """The store's record of a run: config, status, best epoch, metrics (valid, test, train summary),
    versions and machine, run folder."""
    with opened(store) as s:
        row = q.get_run(s, run_id_of(run))
    if row is None:
        raise SemacdrError(f"no run {run_id_of(run)} in the store")
    return row


def load_run(store: Store | str | Path, run=None, inputs: RunInputs | None = None):
    """(run row, config, data, model with the best weights, device) of a run (default: the latest).
    ``inputs``: those of a run with the same inputs, reused as they are (the members of a ``--repeat``
    group differ only by seed)."""
    from trainer.loop import BEST, load_weights

    with opened(store) as s:
        row = q.get_run(s, run_id_of(run)) if run is not None else q.latest_run(s)
        if row is None:
            raise SemacdrError(
                "no such run in the store"
                if run is not None
                else "the store holds no runs; run `semacdr train` first"
            )
        cfg = TrainConfig.stored(row["config"]).validate()
        ckpt = Path(row["run_dir"]) / BEST
        if not ckpt.exists():
            raise SemacdrError("the run has no checkpoint (did it train an epoch?)", path=str(ckpt))
        inputs = inputs or setup(s, cfg)
    data, device = inputs.data, inputs.device
    model = inputs.build_model(cfg, data, inputs.graphs).to(device)
    load_weights(model, ckpt)
    model.eval()
    return row, cfg, data, model, device


def evaluate(store: Store | str | Path, run=None, split: str = "test") -> dict:
    """Both protocols on ``split`` for a run; a run of a ``--repeat`` group reports the group's mean
    (``sampled``/``full``) and standard deviation (``std``)."""
    from trainer.evaluate import evaluate_model

    if split not in ("test", "valid"):
        raise SemacdrError("--split: test or valid")
    from trainer.models import build_model

    with opened(store) as s:
        row, cfg, data, model, device = load_run(s, run)
        members = [row]
        if row["group_id"]:
            members = [r for r in q.group_runs(s, row["group_id"]) if r["status"] == "finished"] or [row]
        shared = RunInputs(data, getattr(model, "graphs", {}), device, build_model)  # the group's, read once
        results = []
        for member in members:
            if member["id"] != row["id"]:  # same data and graphs: only the weights differ
                _, cfg, data, model, device = load_run(s, member["id"], inputs=shared)
            results.append(evaluate_model(model, data, cfg, split, device=device))
    out = {
        "run": int(row["id"]),
        "runs": [int(m["id"]) for m in members],
        "model": row["model"],
        "source": row["source_domain"],
        "target": row["target_domain"],
        "ablation": row["ablation"],
        "split": split,
        "cases": results[0]["cases"],
    }
    for p in ("sampled", "full"):
        out[p] = {k: float(np.mean([r[p][k] for r in results])) for k in results[0][p]}
    if len(results) > 1:  # the sample standard deviation over the seeds (n - 1)
        out["std"] = {
            p: {k: float(np.std([r[p][k] for r in results], ddof=1)) for k in results[0][p]}
            for p in ("sampled", "full")
        }
    out["breakdown"] = {
        group: {
            "cases": block["cases"],
            **{
                p: {k: float(np.mean([r["breakdown"][group][p][k] for r in results])) for k in block[p]}
                for p in ("sampled", "full")
            },
        }
        for group, block in results[0]["breakdown"].items()
    }
    out["training"] = [_training_summary(m) for m in members]
    return out


def _training_summary(row: dict) -> dict:
    train = (row.get("metrics") or {}).get("train") or {}
    return {
        "run": int(row["id"]),
        "epochs": train.get("epochs"),
        "best_epoch": train.get("best_epoch"),
        "hit_cap": train.get("hit_cap"),
    }


def compare(store: Store | str | Path, runs: list, split: str = "test") -> list[dict]:
    with opened(store) as s:
        return [evaluate(s, r, split) for r in runs]


def item_representations(
    store: Store | str | Path, run=None, with_agnostic: bool = True
) -> tuple[np.ndarray, list[str]]:
    """Source and target item representations after the graph module (Eqs. 4-5), rows 1..n of each
    domain, and the domain name of each row. ``with_agnostic=False`` recomputes them without the
    domain-agnostic view in the initial node features (the comparison of the paper's Figure 3)."""
    import torch

    row, cfg, data, model, _device = load_run(store, run)
    if cfg.model != "semacdr":
        raise SemacdrError(f"run {row['id']} is a {cfg.model} run; item representations need a semacdr run")
    with torch.no_grad():
        parts, names = [], []
        for domain, gcn, n, name in (
            ("source", model.gcn_source, data.n_source, cfg.source),
            ("target", model.gcn_target, data.n_target, cfg.target),
        ):
            views = model.semantics.views(domain)
            if not with_agnostic:
                views.pop("agnostic", None)
            h = gcn(model.graphs[domain], model.semantics.item_embeddings(domain, views))[1 : n + 1]
            parts.append(h.cpu().numpy())
            names += [name] * n
    return np.concatenate(parts), names
