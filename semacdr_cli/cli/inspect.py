"""`semacdr inspect item ITEM`: everything the store knows about an item."""

from __future__ import annotations

from semacdr_cli.cli.common import App, DbOption, JsonOption
from semacdr_cli.errors import NotBuiltError

app = App(help="Look at what the store knows.")


@app.command("item")
def item(ref: str, db: DbOption = "annotations.db", json_out: JsonOption = False) -> None:
    """Show an item by store id or external id.

    Example: `semacdr inspect item B000123 --json`
    """
    raise NotBuiltError("`inspect item` is not built yet")
