"""`semacdr runs list` / `semacdr runs show RUN`: the training runs a store holds."""

from __future__ import annotations

from typing import Annotated

import typer

from semacdr_cli.cli.common import App
from semacdr_cli.cli.output import emit, options, plain, table
from semacdr_cli.errors import SemacdrError
from semacdr_cli.store.training import stopping

app = App(help="The training runs of the store: model, direction, seed, how training ended, test metrics.")


def _training_choice(r: dict) -> tuple[str | None, str]:
    """(preset, loss) of a run from its recorded config; ``auto`` resolved by the trainer's own rule."""
    from trainer.api import TrainConfig

    recorded = {"model": r["model"], **(r.get("config") or {})}
    try:
        cfg = TrainConfig.stored(recorded)
    except SemacdrError:  # a config this version cannot read (a newer key): shown as recorded
        return recorded.get("preset") or None, recorded.get("loss", "auto")
    return cfg.preset or None, cfg.loss_kind


def _summary(r: dict) -> dict:
    m = r.get("metrics") or {}
    train = m.get("train") or {}
    test = m.get("test") or {}
    preset, loss = _training_choice(r)
    return {
        "run": r["id"],
        "model": r["model"],
        "ablation": r["ablation"],
        "preset": preset,
        "loss": loss,
        "source": r["source_domain"],
        "target": r["target_domain"],
        "seed": r["seed"],
        "group": r["group_id"],
        "status": r["status"],
        "epochs": train.get("epochs"),
        "best_epoch": r["best_epoch"],
        "hit_cap": train.get("hit_cap"),
        "stopping": stopping(r),
        "test_sampled_ndcg@10": (test.get("sampled") or {}).get("ndcg@10"),
        "test_full_ndcg@10": (test.get("full") or {}).get("ndcg@10"),
        "run_dir": r["run_dir"],
        "created_at": r["created_at"],
    }


def _f(x) -> str:
    return "-" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


@app.command("list")
def list_runs(
    model: Annotated[str | None, typer.Option("--model", help="Only runs of this model.")] = None,
) -> None:
    """One line per run: model, direction, seed, status, epochs (converged or hit the cap), test NDCG@10.

    Example: `semacdr runs list --json`

    docs: docs/trainer.md
    """
    from semacdr_cli.store import Store
    from semacdr_cli.store import training as q

    db = options().db
    with Store(db, create=False) as store:
        rows = [_summary(r) for r in q.list_runs(store) if model is None or r["model"] == model]
    columns = ("run", "model", "direction", "seed", "preset / loss", "group", "status", "epochs", "stopping",
               "NDCG@10 sampled", "NDCG@10 full")  # fmt: skip
    cells = [
        (r["run"], r["model"] + (f" ({r['ablation']})" if r["ablation"] else ""),
         f"{r['source'] or '-'} → {r['target']}", r["seed"], f"{r['preset'] or '-'} / {r['loss']}", r["group"] or "-",
         r["status"], _f(r["epochs"]), r["stopping"] or "-", _f(r["test_sampled_ndcg@10"]), _f(r["test_full_ndcg@10"]))
        for r in rows
    ]  # fmt: skip
    emit(rows, lambda: table(f"{len(rows)} run(s) in {db}", columns, cells))


@app.command("show")
def show(
    run: Annotated[int, typer.Argument(help="Run id.")],
) -> None:
    """Everything the store records of one run: config, versions and machine, training summary, metrics.

    Example: `semacdr runs show 3 --json`

    docs: docs/trainer.md
    """
    from semacdr_cli.store import Store
    from semacdr_cli.store import training as q

    with Store(options().db, create=False) as store:
        row = q.get_run(store, run)
    if row is None:
        raise SemacdrError(f"no run {run} in the store")
    emit(row, lambda: _show_lines(row))


def _show_lines(row: dict) -> list:
    s = _summary(row)
    lines = [
        f"run {row['id']}: {s['model']}{' (' + s['ablation'] + ')' if s['ablation'] else ''} "
        f"{s['source'] or '-'} → {s['target']}, seed {s['seed']}, {s['status']}"
    ]
    train = (row.get("metrics") or {}).get("train") or {}
    if train:
        lines.append(
            f"  training: {train.get('epochs')} epochs, best {train.get('best_epoch')}, "
            f"{stopping(row) or '-'} ({train.get('select_metric', '-')})"
        )
    machine = (row.get("versions") or {}).get("machine") or {}
    if machine:
        lines.append(f"  machine: {machine.get('cpu')}, {machine.get('torch_threads')} torch thread(s)")
    for split in ("valid", "test"):
        block = (row.get("metrics") or {}).get(split) or {}
        for p in ("sampled", "full"):
            if p in block:
                lines.append(f"  {split} {p}: " + ", ".join(f"{k} {v:.4f}" for k, v in block[p].items()))
    lines.append(f"  folder: {row['run_dir']}")
    return [plain(line) for line in lines]


def register(root: typer.Typer) -> None:
    """Mount this command group on the root (every cli module has one `register`)."""
    root.add_typer(app, name="runs")
