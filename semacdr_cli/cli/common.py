"""What every command shares: error handling, the --db/--json options, consoles, JSON output."""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

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


def _library_error(exc: Exception) -> str | None:
    """One line for an expected error of a library the CLI drives (an LLM client); None otherwise."""
    module = type(exc).__module__.split(".")[0]
    if module == "openai":
        status = getattr(exc, "status_code", None)
        detail = " ".join(str(getattr(exc, "message", exc)).split())[:300]
        where = f"HTTP {status}: " if status else ""
        return f"the OpenAI-compatible server failed ({where}{detail})"
    return None


def _guard(fn):
    """Turn SemacdrError (and Ctrl-C) into one line on stderr and a non-zero exit, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SemacdrError as exc:
            fail(exc.message, exc.exit_code)
        except sqlite3.OperationalError as exc:  # a library error the user can meet: one line, no traceback
            db = kwargs.get("db") or "the store"
            if "locked" in str(exc) or "busy" in str(exc):
                fail(f"{db} is locked by another writer (sqlite: {exc}); wait for that job to finish, or raise "
                     "SEMACDR_BUSY_TIMEOUT (seconds), or use another --db")
            fail(f"{db}: sqlite error: {exc}")
        except Exception as exc:
            message = _library_error(exc)
            if message is None:
                raise
            fail(message)
        except KeyboardInterrupt:
            err_console.print("interrupted; the store keeps every committed step, run again to resume")
            raise typer.Exit(130) from None

    return wrapper


# the root help lists commands in the order a user runs them
PIPELINE = ("data", "taxonomy", "annotate", "labels", "embed", "inspect", "train", "eval", "runs", "report", "demo")


class PipelineGroup(TyperGroup):
    """A command group that lists its commands in pipeline order (unknown names after, as added)."""

    def list_commands(self, ctx) -> list[str]:
        names = list(self.commands)
        rank = {n: k for k, n in enumerate(PIPELINE)}
        return sorted(names, key=lambda n: (rank.get(n, len(PIPELINE)), names.index(n)))


class App(typer.Typer):
    """A Typer app whose commands report SemacdrError (and expected library errors) as a single line."""

    def __init__(self, **kwargs):
        kwargs.setdefault("cls", PipelineGroup)
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
