"""`semacdr taxonomy ...`: induce, show, export, import the domain-agnostic taxonomy."""

from __future__ import annotations

from semacdr_cli.cli.common import App, DbOption, JsonOption
from semacdr_cli.errors import NotBuiltError

app = App(help="Induce and review the domain-agnostic taxonomy (K categories with subcategories).")


@app.command("show")
def show(db: DbOption = "annotations.db", json_out: JsonOption = False) -> None:
    """Print the current taxonomy.

    Example: `semacdr taxonomy show --json`
    """
    raise NotBuiltError("`taxonomy show` is not built yet")
