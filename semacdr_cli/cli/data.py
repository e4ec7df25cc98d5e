"""`semacdr data ...`: import, demo data, statistics, schema."""

from __future__ import annotations

from semacdr_cli.cli.common import App, DbOption, JsonOption
from semacdr_cli.errors import NotBuiltError

app = App(help="Import interaction data into the store and report on it.")


@app.command("stats")
def stats(db: DbOption = "annotations.db", json_out: JsonOption = False) -> None:
    """Per-domain statistics (the paper's Table 4).

    Example: `semacdr data stats --json`
    """
    raise NotBuiltError("`data stats` is not built yet")
