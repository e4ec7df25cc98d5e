"""`semacdr demo` (the whole pipeline on the embedded defaults) and `semacdr report`."""

from __future__ import annotations

import typer

from semacdr_cli.errors import NotBuiltError


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo() -> None:
        """Run the whole pipeline on the embedded defaults.

        Example: `semacdr demo --out demo-out`
        """
        raise NotBuiltError("`demo` is not built yet")
