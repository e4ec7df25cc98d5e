"""`semacdr train` and `semacdr eval`: thin wrappers over the trainer's public API."""

from __future__ import annotations

import typer

from semacdr_cli.cli.common import DbOption
from semacdr_cli.errors import NotBuiltError


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(db: DbOption = "annotations.db") -> None:
        """Train SemaCDR or a baseline on the store.

        Example: `semacdr train --source kitchen --target food`
        """
        raise NotBuiltError("`train` is not built yet")

    @app.command("eval")
    def evaluate(db: DbOption = "annotations.db") -> None:
        """Evaluate a run (sampled and full-ranking metrics).

        Example: `semacdr eval --json`
        """
        raise NotBuiltError("`eval` is not built yet")
