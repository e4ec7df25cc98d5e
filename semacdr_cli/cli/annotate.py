"""`semacdr annotate --domain D`: LLM labels and enriched descriptions for every item."""

from __future__ import annotations

import typer

from semacdr_cli.cli.common import DbOption
from semacdr_cli.errors import NotBuiltError


def register(app: typer.Typer) -> None:
    @app.command("annotate")
    def annotate(domain: str = typer.Option(..., "--domain"), db: DbOption = "annotations.db") -> None:
        """Annotate the items of one domain against the current taxonomy.

        Example: `semacdr annotate --domain food`
        """
        raise NotBuiltError("`annotate` is not built yet")
