"""`semacdr train` and `semacdr eval`: thin wrappers over the trainer's public API (``trainer.api``)."""

from __future__ import annotations

from typing import Annotated

import typer

from semacdr_cli.cli.common import DatasetOption
from semacdr_cli.cli.output import emit, options, table
from semacdr_cli.errors import SemacdrError
from semacdr_cli.store.training import stopping
from trainer.api import DEFAULT_PRESET, MODELS
from trainer.api import TrainConfig as _C  # option help from the job's config

METRIC_KEYS = ("hr@5", "hr@10", "ndcg@5", "ndcg@10")


def _fmt(result: dict, protocol: str, key: str) -> str:
    value = f"{result[protocol][key]:.4f}"
    if "std" in result:
        value += f" ± {result['std'][protocol][key]:.4f}"
    return value


def _rows(blocks: list[tuple[list, dict]]) -> list[list]:
    """Two rows per block (sampled, then full), the block's leading cells on the first only."""
    rows = []
    for lead, result in blocks:
        for p in ("sampled", "full"):
            rows.append(
                [
                    *(lead if p == "sampled" else [""] * len(lead)),
                    p,
                    *[_fmt(result, p, k) for k in METRIC_KEYS],
                ]
            )
    return rows


def _table(results: list[dict], title: str):
    blocks = []
    for r in results:
        name = r["model"] + (f" ({r['ablation']})" if r.get("ablation") else "")
        run = str(r["run"]) if len(r["runs"]) == 1 else f"{r['run']} (group of {len(r['runs'])})"
        blocks.append(([run, name, f"{r['source'] or '-'} → {r['target']}", r["cases"]], r))
    metrics = [k.upper() for k in METRIC_KEYS]
    return table(
        title,
        ("run", "model", "source → target", "cases", "protocol", *metrics),
        _rows(blocks),
        right=metrics,
    )


def _breakdown_table(result: dict, title: str):
    groups = {
        "all": {"cases": result["cases"], "sampled": result["sampled"], "full": result["full"]},
        **result.get("breakdown", {}),
    }
    metrics = [k.upper() for k in METRIC_KEYS]
    blocks = [([name, block["cases"]], block) for name, block in groups.items()]
    return table(title, ("group", "cases", "protocol", *metrics), _rows(blocks), right=metrics)


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        source: Annotated[str | None, typer.Option("--source", help="Source domain name.")] = None,
        target: Annotated[str | None, typer.Option("--target", help="Target domain name.")] = None,
        model: Annotated[str | None, typer.Option("--model", help=" | ".join(MODELS) + ".")] = None,
        ablation: Annotated[
            list[str] | None,
            typer.Option(
                "--ablation",
                help="Table 3 switch (repeatable): no-inner-semantics, no-agnostic-semantics, "
                "no-semantics, simple-graph, no-cross-domain-fusion, average-fusion, no-contrastive.",
            ),
        ] = None,
        config: Annotated[
            str | None, typer.Option("--config", help="TOML file with any hyperparameter.")
        ] = None,
        preset: Annotated[
            str | None,
            typer.Option(
                "--preset",
                help="A named set of training keys under --config's: paper (the paper-literal reading) | "
                f'fixes (every candidate fix; docs/trainer.md "Presets"). Default {DEFAULT_PRESET}.',
            ),
        ] = None,
        seed: Annotated[int | None, typer.Option("--seed", help=f"Random seed (default {_C.seed}).")] = None,
        epochs: Annotated[
            int | None,
            typer.Option("--epochs", help=f"Epoch cap (default {_C.epochs}; converged runs stop before it)."),
        ] = None,
        threads: Annotated[
            int | None,
            typer.Option("--threads", help=f"torch threads (default {_C.threads}: the cores not busy now)."),
        ] = None,
        device: Annotated[
            str | None, typer.Option("--device", help=f"auto | cpu | cuda (default {_C.device}).")
        ] = None,
        repeat: Annotated[
            int,
            typer.Option(
                "--repeat",
                help="Train N seeds (seed, seed+1, ...) as one group; eval reports mean ± sample std.",
            ),
        ] = 5,
        jobs: Annotated[
            int,
            typer.Option(
                "--jobs",
                help="Seeds trained side by side, each process with its share of the cores (0: one per free "
                "core). Small models finish sooner side by side on a CPU.",
            ),
        ] = 1,
        runs_dir: Annotated[str, typer.Option("--runs-dir", help="Folder of the run folders.")] = "runs",
        resume: Annotated[
            int | None, typer.Option("--resume", help="Continue run RUN from its last checkpoint.")
        ] = None,
        dataset: DatasetOption = None,
    ) -> None:
        """Train SemaCDR or a baseline on the store; prints the run id as the last line.

        Five seeds by default (`--repeat 1` for one). Trains to convergence: a validation every
        `eval_every` epochs on `select_metric`, stopping after `patience` validations without a better
        one (defaults in docs/trainer.md, from `TrainConfig`); each run records whether it stopped or hit the cap. The
        best checkpoint, per-epoch metrics, the resolved config and the machine go to `RUNS_DIR/run-ID/`. An interrupted run resumes from
        its last checkpoint (`--resume RUN`, or automatically when the same command is run again; an
        interrupted `--repeat` group is completed then, its finished seeds kept, never trained twice).

        Example: `semacdr train --source kitchen --target food --model sasrec --repeat 1`

        docs: docs/trainer.md
        """
        from semacdr_cli.store import Store
        from trainer import api

        if resume is None and target is None and config is None:
            raise SemacdrError("--target: give the target domain (or --resume RUN)")
        json_out = options().json
        with Store(options().db, create=False) as store:
            rows = api.train(
                store,
                source=source,
                target=target,
                model=model,
                ablation=ablation,
                config_path=config,
                seed=seed,
                epochs=epochs,
                device=device,
                dataset=dataset,
                repeat=repeat,
                runs_dir=runs_dir,
                resume=resume,
                progress=not json_out,
                overrides={"threads": threads} if threads is not None else None,
                jobs=jobs,
                preset=preset,
            )
        if not api.is_main_process():
            return
        ids = [r["id"] for r in rows]
        last = rows[-1]
        data = {
            "run": ids[-1],
            "runs": ids,
            "group": last["group_id"],
            "run_dir": last["run_dir"],
            "best_epoch": last["best_epoch"],
            "valid": last["metrics"]["valid"],
            "test": last["metrics"]["test"],
            "train": last["metrics"]["train"],
        }
        columns = ("run", "model", "seed", "epochs", "best epoch", "stopped", "valid NDCG@10", "test HR@10 (sampled)",
                   "test HR@10 (full)", "folder")  # fmt: skip
        cells = [
            (r["id"], r["model"] + (f" ({r['ablation']})" if r["ablation"] else ""), r["seed"],
             r["metrics"]["train"].get("epochs"), r["best_epoch"], stopping(r) or "-",
             f"{r['metrics']['valid']['sampled']['ndcg@10']:.4f}", f"{r['metrics']['test']['sampled']['hr@10']:.4f}",
             f"{r['metrics']['test']['full']['hr@10']:.4f}", r["run_dir"])
            for r in rows
        ]  # fmt: skip
        emit(data, lambda: table("trained", columns, cells))
        if not json_out:
            typer.echo(str(ids[-1]))

    @app.command("eval")
    def evaluate(
        run: Annotated[int | None, typer.Argument(help="Run id (default: the most recent run).")] = None,
        split: Annotated[str, typer.Option("--split", help="test | valid.")] = "test",
        compare: Annotated[
            list[int] | None, typer.Option("--compare", help="Runs to put in one table (repeatable).")
        ] = None,
    ) -> None:
        """Evaluate a run: HR@5/10 and NDCG@5/10, sampled (100 negatives) and full ranking side by side.

        A run trained with `--repeat` reports its group's mean ± sample std. Breakdowns: warm vs cold
        held-out items (cold: in no training window) and users with >= 3 prior target items.

        Example: `semacdr eval 3 --json`  or  `semacdr eval --compare 1 --compare 2`

        docs: docs/trainer.md
        """
        from trainer import api

        if split not in ("test", "valid"):
            raise SemacdrError("--split: test or valid")
        if compare:
            ids = ([run] if run is not None else []) + list(compare)
            results = api.compare(options().db, ids, split)
            emit(results, lambda: _table(results, f"{split} split"))
            return
        result = api.evaluate(options().db, run, split)
        capped = [t["run"] for t in result.get("training", []) if t.get("hit_cap")]
        emit(
            result,
            lambda: _table([result], f"{split} split"),
            lambda: _breakdown_table(result, f"{split} split by group (mean over the group's runs)"),
            f"[yellow]warning:[/] run(s) {', '.join(map(str, capped))} hit the epoch cap (not converged); raise --epochs"
            if capped
            else None,
        )
