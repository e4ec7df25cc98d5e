"""`semacdr report RUN... --out DIR`: the markdown report with tables and figures."""

from __future__ import annotations

from typing import Annotated

import typer

from semacdr_cli.cli.common import DatasetOption
from semacdr_cli.cli.output import emit, err_console, options, table


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        runs: Annotated[
            list[str] | None,
            typer.Argument(
                help="Run ids (or registered run folders). Default: the most recent run.", show_default=False
            ),
        ] = None,
        out: Annotated[
            str, typer.Option("--out", "-o", help="Folder to write report.md and figures/ into.")
        ] = "report",
        user: Annotated[
            str | None,
            typer.Option(
                "--user",
                help="User of Figure 4 (external or store id). Default: the user with the "
                "most annotated items in both domains.",
            ),
        ] = None,
        tsne_points: Annotated[
            int, typer.Option("--tsne-points", min=10, help="At most this many items in the t-SNE figure.")
        ] = 2000,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the t-SNE subsample and layout.")] = 0,
        dataset: DatasetOption = None,
    ) -> None:
        """Write a markdown report (dataset statistics, taxonomy, results across runs, training curves,
        the paper's Figures 3 and 4, category coverage) into a folder.

        Missing inputs (a run folder, per-epoch metrics, a taxonomy, annotations) become notes in the
        report, not errors.

        Example: `semacdr report 3 4 --out report-kitchen-food`  then open report-kitchen-food/report.md

        docs: docs/report.md
        """
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from semacdr_cli.report.build import build_report

        steps = 5 + len(runs or [1])
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]report[/] {task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=options().json and not err_console.is_terminal,
        ) as bar:
            task = bar.add_task("starting", total=steps)

            def progress(name: str) -> None:
                bar.update(task, description=name, advance=1)

            result = build_report(
                options().db,
                runs or [],
                out,
                dataset=dataset,
                user=user,
                tsne_points=tsne_points,
                seed=seed,
                progress=progress,
            )
            bar.update(task, completed=steps)
        files = [(result.report, "markdown"), (result.data, "tables as JSON")]
        files += [(p, "figure") for p in result.figures]
        emit(
            result.to_json(),
            lambda: table(f"report written: {result.report}", ("file", "kind"), files),
            *(f"[yellow]note[/]: {n}" for n in result.notes),
        )
