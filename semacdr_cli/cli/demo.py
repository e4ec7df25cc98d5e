"""`semacdr demo`: the whole pipeline on the embedded defaults (the README's main job)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from semacdr_cli.cli.output import emit, err_console, options, plain, table
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
            options().db,
            cfg,
            make_backend=lambda: make_backend(backend, model, base_url, batch_size),
            progress=progress_bar,
            announce=announce,
        )
        emit(result.as_dict(), lambda: _views(result))


def _views(result) -> list:
    metrics = [(p, m) for p in ("sampled", "full") for m in ("hr@10", "ndcg@10")]
    rows = []
    for spec, met in result.metrics.items():
        std = met.get("std") or {}
        cells = [
            f"{met[p][m]:.4f}" + (f" ± {std[p][m]:.4f}" if m in std.get(p, {}) else "") for p, m in metrics
        ]
        rows.append((spec, len(result.runs.get(spec, [])) or 1, *cells))
    columns = ("model", "seeds", *(f"{p} {m}" for p, m in metrics))
    stages = [(st.name, f"{st.seconds:.1f}") for st in result.stages]
    total = [("total", f"{sum(st.seconds for st in result.stages):.1f}")]
    return [
        table("SemaCDR demo (synthetic data): test split, target domain, mean ± std over seeds", columns, rows,
              right=columns[1:]),
        table("stages", ("stage", "seconds"), stages, right=("seconds",), sections=[total]),
        plain(f"report: {result.report}"),
    ]  # fmt: skip
