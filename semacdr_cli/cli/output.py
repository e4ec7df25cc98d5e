"""The CLI's one output renderer, and the global options of the command that is running.

A command computes its result as plain data, then hands it to ``emit`` with what a person should see:
``--json`` prints the data (and nothing else on stdout), otherwise the views print on the console
(tables stay whole when piped), and ``-q`` silences them. ``table`` is the one way a command builds a
table. A command reads ``--db`` / ``--json`` / ``-q`` through ``options()``; it never declares them
(``common.App`` adds them to every command and to the root).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

# piped output is not cut to 80 columns: tables stay whole (a terminal keeps its own width)
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


@dataclass(frozen=True)
class Options:
    """--db, --json and -q of the running command, resolved (the command's own, the root's, env, default)."""

    db: str
    json: bool = False
    quiet: bool = False


_current: ContextVar[Options | None] = ContextVar("semacdr_options", default=None)


def default_db() -> str:
    """The store when no --db is given: SEMACDR_DB, else annotations.db."""
    import os

    from semacdr_cli.store import DEFAULT_DB

    return os.environ.get("SEMACDR_DB") or DEFAULT_DB


def options() -> Options:
    """The running command's global options (outside a command: the default store, tables)."""
    current = _current.get()
    return current if current is not None else Options(default_db())


def set_options(value: Options):
    """Make ``value`` the running command's options; returns the token to reset them with."""
    return _current.set(value)


def reset_options(token) -> None:
    _current.reset(token)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


View = Table | Text | str | Callable[[], Any] | None


def emit(data: Any, *views: View) -> None:
    """The result of a command: ``data`` as JSON under --json; otherwise each view for people (a rich
    Table, a line with rich markup, or a function returning one or a list of them: built only when
    shown); -q keeps the views off stdout."""
    if options().json:
        print_json(data)
        return
    for view in views:
        shown = view() if callable(view) else view
        for item in shown if isinstance(shown, list) else [shown]:
            if item is not None:
                console.print(item)


def say(line: str) -> None:
    """A line for people on stdout (never under --json; -q silences it)."""
    if not options().json:
        console.print(line)


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    right: Iterable[str] = (),
    fold: Iterable[str] = (),
    caption: str | None = None,
    sections: Iterable[Sequence[Sequence[Any]]] = (),
) -> Table:
    """A table: ``columns`` by name (those in ``right`` right-justified, those in ``fold`` wrapped),
    ``rows`` of cells (None shows empty; a str cell is rich markup, a ``Text`` cell is shown as is), then
    each of ``sections`` (lists of rows) under a rule."""
    right, fold = set(right), set(fold)
    out = Table(title=title, caption=caption, box=box.SIMPLE_HEAD)
    for name in columns:
        out.add_column(
            name,
            justify="right" if name in right else "left",
            overflow="fold" if name in fold else "ellipsis",
        )
    for row in rows:
        out.add_row(*map(_cell, row))
    for section in sections:
        out.add_section()
        for row in section:
            out.add_row(*map(_cell, row))
    return out


def _cell(value: Any):
    return "" if value is None else value if isinstance(value, Text) else str(value)


def plain(text: str) -> Text:
    """Untrusted or literal text (item titles, LLM output): shown as it is, never read as markup."""
    return Text(text)
