"""What every command shares: the global options (--db, --json, -q) owned by the group class, and
error handling. Output goes through ``cli/output.py`` (the one renderer).

A command never declares --db, --json or -q: ``App.command`` adds them to every command (so they may
follow the command name, as in `semacdr data stats --db x.db`) and the root takes them too
(`semacdr --db x.db data stats`). A command reads them with ``output.options()``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import sqlite3
from typing import Annotated

import typer
from typer.core import TyperGroup

from semacdr_cli.cli.output import (
    Options,
    console,
    default_db,
    err_console,
    options,
    reset_options,
    set_options,
)
from semacdr_cli.errors import SemacdrError

GLOBAL_PANEL = "Global options"
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Path of the SQLite store [env SEMACDR_DB; default annotations.db].",
        rich_help_panel=GLOBAL_PANEL,
    ),
]
JsonOption = Annotated[
    bool | None,
    typer.Option(
        "--json/--no-json",
        help="Print machine-readable JSON instead of tables.",
        show_default=False,
        rich_help_panel=GLOBAL_PANEL,
    ),
]
QuietOption = Annotated[
    bool | None,
    typer.Option(
        "-q",
        "--quiet",
        help="No tables or summaries on stdout; errors, progress and --json still print.",
        show_default=False,
        rich_help_panel=GLOBAL_PANEL,
    ),
]
_GLOBALS = {"db": DbOption, "json_out": JsonOption, "quiet": QuietOption}
# a command that declares `job_config: JobConfigOption = None` takes its option values from a TOML file
JobConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="TOML file of this command's options (keys = option names, e.g. `max-labels = 2`); "
        "options given on the command line win.",
    ),
]
DatasetOption = Annotated[
    str | None,
    typer.Option("--dataset", help="Dataset name in the store (default: the most recently imported)."),
]


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
    """Turn SemacdrError, a locked store, an LLM client's error (and Ctrl-C) into one line on stderr and
    a non-zero exit, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SemacdrError as exc:
            fail(exc.message, exc.exit_code)
        except sqlite3.OperationalError as exc:  # a library error the user can meet: one line, no traceback
            db = options().db
            if "locked" in str(exc) or "busy" in str(exc):
                fail(
                    f"{db} is locked by another writer (sqlite: {exc}); wait for that job to finish, or raise "
                    "SEMACDR_BUSY_TIMEOUT (seconds), or use another --db"
                )
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
PIPELINE = (
    "data",
    "taxonomy",
    "annotate",
    "labels",
    "embed",
    "inspect",
    "train",
    "eval",
    "runs",
    "report",
    "demo",
)


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
            register(with_global_options(fn))
            return fn

        return decorator


def global_values(
    ctx=None, db: str | None = None, json_out: bool | None = None, quiet: bool | None = None
) -> Options:
    """The global options resolved: the command's own flag, else the root's, else env / default."""
    root = ctx.find_root().params if ctx is not None else {}
    db = db or root.get("db") or default_db()
    json_out = bool(json_out if json_out is not None else root.get("json_out"))
    quiet = bool(quiet if quiet is not None else root.get("quiet"))
    return Options(db=db, json=json_out, quiet=quiet)


def with_global_options(fn):
    """``fn`` with --db/--json/-q added to its options; while it runs, ``output.options()`` holds them
    (and the error guard reads the store's path from there)."""
    sig = inspect.signature(fn, eval_str=True)
    clash = [name for name in _GLOBALS if name in sig.parameters]
    if clash:
        raise TypeError(f"{fn.__name__}: declares the global option(s) {clash}; read output.options()")
    own = list(sig.parameters.values())
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann)
        for name, ann in _GLOBALS.items()
    ] + [inspect.Parameter("_ctx", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=typer.Context)]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        ctx = kwargs.pop("_ctx", None)
        values = global_values(ctx, **{name: kwargs.pop(name, None) for name in _GLOBALS})

        def run():
            given = (
                apply_config_file(ctx, kwargs["job_config"], kwargs) if kwargs.get("job_config") else kwargs
            )
            with _quiet() if values.quiet else contextlib.nullcontext():
                return fn(*args, **given)

        token = set_options(values)
        try:
            return _guard(run)()
        finally:
            reset_options(token)

    wrapper.__signature__ = sig.replace(parameters=own + extra)
    wrapper.__annotations__ = {p.name: p.annotation for p in own + extra}
    return wrapper


def apply_config_file(ctx, path: str, kwargs: dict) -> dict:
    """``kwargs`` with the values of the TOML file at ``path`` for every option not given on the
    command line (or by its environment variable); unknown keys and wrong types are one-line errors."""
    from semacdr_cli.config_files import fits, read_toml

    file = str(path)
    data = read_toml(file)
    out = dict(kwargs)
    settable = [k for k in kwargs if k not in _GLOBALS and k not in ("job_config", "_ctx")]
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in settable:
            raise SemacdrError(f"unknown key {key!r} (options: {', '.join(sorted(settable))})", path=file)
        current = kwargs[name]
        if current is not None and not fits(current, value):
            raise SemacdrError(f"key {key!r}: expected {type(current).__name__}, got {value!r}", path=file)
        if current is None:  # no default to compare with: the option's annotated type judges the value
            _check_type(ctx, name, value, key, file)
        source = ctx.get_parameter_source(name) if ctx is not None else None
        given = getattr(source, "name", None) in (
            "COMMANDLINE",
            "ENVIRONMENT",
        )  # typer vendors click: by name
        if not given:
            out[name] = value
    return out


def _check_type(ctx, name: str, value, key: str, file: str) -> None:
    """For an option without a default: ``value`` must fit the option's annotated type (a number for
    an int option, never a list or a bool), else a one-line error naming the key."""
    from semacdr_cli.config_files import fits

    param = next((p for p in (ctx.command.params if ctx is not None else []) if p.name == name), None)
    kind = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if kind in (bool, int, float, str) and not fits(kind(), value):
        raise SemacdrError(f"key {key!r}: expected {kind.__name__}, got {value!r}", path=file)


@contextlib.contextmanager
def _quiet():
    console.quiet = True
    try:
        yield
    finally:
        console.quiet = False
