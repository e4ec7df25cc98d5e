"""`semacdr demo`: the whole pipeline on the embedded defaults (the README's main job)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from semacdr_cli.cli.common import DEFAULT_DB_PATH, console, err_console, print_json
from semacdr_cli.pipeline import DemoConfig as _D  # option defaults from the job's config


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        out: Annotated[
            Path, typer.Option("--out", help="Folder for the demo data, runs and report.")
        ] = _D.out,
        size: Annotated[
            str, typer.Option("--size", help="default (the main job) or tiny (a smoke test).")
        ] = _D.size,
        backend: Annotated[
            str | None, typer.Option("--backend", help="LLM backend (default: as `annotate`).")
        ] = None,
        model: Annotated[
            str | None, typer.Option("--model", help="LLM (default: the bundled SmolLM2-135M).")
        ] = None,
        base_url: Annotated[str | None, typer.Option("--base-url", help="With --backend openai.")] = None,
        batch_size: Annotated[
            int, typer.Option("--batch-size", help="Prompts per LLM call.")
        ] = _D.batch_size,
        epochs: Annotated[
            int | None, typer.Option("--epochs", help="Training epochs (default: by size).")
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="First seed (data, sampling, training).")] = _D.seed,
        seeds: Annotated[
            int,
            typer.Option("--seeds", min=1, help="Training seeds per model (the report shows mean ± std)."),
        ] = _D.seeds,
        jobs: Annotated[
            int,
            typer.Option("--jobs", min=0, help="Seeds trained side by side (0: one per free core)."),
        ] = _D.jobs,
        db: str = DEFAULT_DB_PATH,
        json_out: bool = False,
    ) -> None:
        """Run the whole SemaCDR pipeline on the embedded defaults: synthetic demo data -> import ->
        taxonomy induce -> annotate both domains -> embed -> train sasrec, semacdr without semantics and
        semacdr, each over --seeds seeds -> eval -> report (its first table: the three, mean ± std).

        Everything is labelled synthetic. A second run reuses the store (dataset, taxonomy,
        annotations, embeddings) and the converted model, so only training and the report run again.

        Example: `semacdr demo --out demo-out`   (smoke test: `semacdr demo --size tiny --epochs 2`)

        docs: README.md
        """
        from rich.rule import Rule

        from semacdr_cli.cli.llm_common import make_backend, progress_bar
        from semacdr_cli.pipeline import DemoConfig, run_demo

        cfg = DemoConfig(out=out, size=size, backend=backend, model=model, base_url=base_url,
                         batch_size=batch_size, seed=seed, seeds=seeds, epochs=epochs, jobs=jobs)  # fmt: skip
        cfg.sizes()  # validate --size before anything runs

        def announce(name: str) -> None:
            err_console.print(Rule(f"[bold]{name}"))

        result = run_demo(
            db,
            cfg,
            make_backend=lambda: make_backend(backend, model, base_url, batch_size),
            progress=progress_bar,
            announce=announce,
        )
        if json_out:
            print_json(result.as_dict())
            return
        _print_result(result)


def _print_result(result) -> None:
    from rich.table import Table

    t = Table(title="SemaCDR demo (synthetic data): test split, target domain, mean ± std over seeds")
    t.add_column("model")
    t.add_column("seeds", justify="right")
    for proto in ("sampled", "full"):
        for m in ("hr@10", "ndcg@10"):
            t.add_column(f"{proto} {m}", justify="right")
    for spec, met in result.metrics.items():
        std = met.get("std") or {}
        t.add_row(
            spec,
            str(len(result.runs.get(spec, [])) or 1),
            *[
                f"{met[p][m]:.4f}" + (f" ± {std[p][m]:.4f}" if m in std.get(p, {}) else "")
                for p in ("sampled", "full")
                for m in ("hr@10", "ndcg@10")
            ],
        )
    console.print(t)
    s = Table(title="stages")
    s.add_column("stage")
    s.add_column("seconds", justify="right")
    for st in result.stages:
        s.add_row(st.name, f"{st.seconds:.1f}")
    s.add_row("total", f"{sum(st.seconds for st in result.stages):.1f}")
    console.print(s)
    console.print(f"report: {result.report}", markup=False)
