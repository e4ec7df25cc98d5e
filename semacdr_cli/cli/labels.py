"""`semacdr labels stats --domain D`: do a domain's labels carry information (the degeneracy guard)."""

from __future__ import annotations

from typing import Annotated

import typer

from semacdr_cli.cli.common import App, DatasetOption
from semacdr_cli.cli.output import emit, err_console, options, table

app = App(help="What the labels of a domain look like: entropy, top-label share, unused subcategories.")


@app.command("stats")
def stats(
    domain: Annotated[str, typer.Option("--domain", help="Domain whose labels to check.")],
    taxonomy_version: Annotated[
        int | None, typer.Option("--taxonomy-version", help="Default: latest.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when a category is degenerate.")] = False,
    dataset: DatasetOption = None,
) -> None:
    """Per category: share labelled, normalised entropy, top label and its share, share on the
    first-listed option, unused subcategories; degenerate categories (>= 80% one label) are flagged.

    Example: `semacdr labels stats --domain food --json`

    docs: docs/semantics.md
    """
    from semacdr_cli.errors import SemacdrError
    from semacdr_cli.labels.stats import domain_label_stats
    from semacdr_cli.store import Store

    with Store(options().db, create=False) as store:
        st = domain_label_stats(store, store.dataset(dataset)["id"], domain, taxonomy_version)
    bad = [c for c in st["categories"] if c["degenerate"]]
    columns = ("category", "labelled", "entropy", "top label", "top share", "first-listed", "used", "unused",
               "degenerate")  # fmt: skip
    rows = [
        (c["name"], f"{c['labelled']:.2f}", f"{c['entropy']:.2f}", c["top_label"], f"{c['top_share']:.2f}",
         f"{c['first_listed_share']:.2f}", c["used"], ", ".join(c["unused"]) or "-", c["degenerate"] or "-")
        for c in st["categories"]
    ]  # fmt: skip
    title = (f"labels of {domain}: {st['items']} items, taxonomy v{st['taxonomy_version']} "
             f"({st['taxonomy_origin']}), methods {st['methods']}")  # fmt: skip
    emit(st, lambda: table(title, columns, rows, fold=columns))
    if st["taxonomy_origin"] == "fallback":
        err_console.print(
            "warning: the taxonomy is the fixed seed list (fallback), not induced", markup=False
        )
    for c in bad:
        err_console.print(
            f"warning: degenerate labels: {domain} / {c['name']}: {c['degenerate']}", markup=False
        )
    if bad and strict:
        raise SemacdrError(f"{len(bad)} degenerate categories (--strict)")


def register(root: typer.Typer) -> None:
    """Mount this command group on the root (every cli module has one `register`)."""
    root.add_typer(app, name="labels")
