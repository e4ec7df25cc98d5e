"""`semacdr embed --domain D`: sentence embeddings of the enriched descriptions."""

from __future__ import annotations

import typer

from semacdr_cli.cli.common import DbOption
from semacdr_cli.errors import NotBuiltError


def register(app: typer.Typer) -> None:
    @app.command("embed")
    def embed(domain: str = typer.Option(..., "--domain"), db: DbOption = "annotations.db") -> None:
        """Encode each item's enriched description with sentence-transformers.

        Example: `semacdr embed --domain food`
        """
        raise NotBuiltError("`embed` is not built yet")
