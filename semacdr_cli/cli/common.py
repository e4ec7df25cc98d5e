"""What every command shares: error handling, the --db/--json options, consoles, JSON output."""

from __future__ import annotations

import functools
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from semacdr_cli.errors import SemacdrError
from semacdr_cli.store import DEFAULT_DB

# piped output is not cut to 80 columns: tables stay whole (a terminal keeps its own width)
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

DbOption = Annotated[
    str,
    typer.Option("--db", envvar="SEMACDR_DB", help="Path of the SQLite store.", show_default=True),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
DatasetOption = Annotated[
    str | None,
    typer.Option("--dataset", help="Dataset name in the store (default: the most recently imported)."),
]
DEFAULT_DB_PATH = DEFAULT_DB


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit with ``code``."""
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _guard(fn):
    """Turn SemacdrError (and Ctrl-C) into one line on stderr and a non-zero exit, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SemacdrError as exc:
            fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted; the store keeps every committed step, run again to resume")
            raise typer.Exit(130) from None

    return wrapper


class App(typer.Typer):
    """A Typer app whose commands report SemacdrError as a single line."""

    def __init__(self, **kwargs):
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("pretty_exceptions_show_locals", False)
        kwargs.setdefault("rich_markup_mode", "markdown")
        super().__init__(**kwargs)

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(fn):
            register(_guard(fn))
            return fn

        return decorator


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
