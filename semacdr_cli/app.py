"""The `semacdr` command: a root Typer app on which each module of ``cli/`` registers its command or
command group.

Heavy libraries (torch, transformers, vllm) are imported inside the commands that need them, so
`semacdr --help` answers at once.
"""

from __future__ import annotations

import typer

from semacdr_cli import __version__
from semacdr_cli.cli import annotate, data, demo, embed, inspect, labels, report, runs, taxonomy, training
from semacdr_cli.cli.common import App, DbOption, JsonOption, QuietOption

app = App(
    help=(
        "**semacdr**: LLM semantic annotation and SemaCDR training for cross-domain sequential "
        "recommendation.\n\nThe main job on the embedded default: `semacdr demo`."
    ),
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"semacdr {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
    db: DbOption = None,
    json_out: JsonOption = None,
    quiet: QuietOption = None,
) -> None:
    """semacdr command line. --db, --json and -q may also follow any command."""


# one way to mount a command or a group: each module's register(app), in the order of the help
for module in (data, taxonomy, annotate, labels, embed, inspect, training, runs, report, demo):
    module.register(app)


def main() -> None:
    app()
