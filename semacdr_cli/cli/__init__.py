"""The thin Typer layer: one module per command group; each command parses options, calls a
library function and renders the result (a rich table, or JSON with --json)."""
