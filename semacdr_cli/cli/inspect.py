"""`semacdr inspect item ITEM`: everything the store knows about an item."""

from __future__ import annotations

from typing import Annotated

import typer

from semacdr_cli.cli.common import DEFAULT_DB_PATH, App, DatasetOption, console, print_json

app = App(help="Look at what the store knows.")


@app.command("item")
def item(
    ref: Annotated[str, typer.Argument(metavar="ITEM", help="Store id or external id (e.g. an ASIN).")],
    nearest: Annotated[
        int, typer.Option("--nearest", help="How many nearest items of the other domain.")
    ] = 5,
    db: str = DEFAULT_DB_PATH,
    dataset: DatasetOption = None,
    json_out: bool = False,
) -> None:
    """Show an item: domain, title and text, labels per category, enriched description, provenance,
    failure reason, and its nearest items of the other domain by embedding cosine.

    Example: `semacdr inspect item B000123 --json`

    docs: docs/semantics.md
    """
    from semacdr_cli.inspect_item import inspect_item
    from semacdr_cli.store import Store

    with Store(db, create=False) as store:
        ds_id = store.dataset(dataset)["id"] if dataset else None
        info = inspect_item(store, ref, ds_id, nearest)
    if json_out:
        print_json(info)
        return
    from rich.markup import escape
    from rich.table import Table

    it = info["item"]
    console.print(
        f"[bold]{escape(it['title'] or '')}[/bold]  ({escape(it['domain'])}, id {it['id']}, {escape(it['external_id'])})"
    )
    if it["text"]:
        console.print(it["text"], markup=False)
    console.print(f"status: {info['status']}", markup=False)
    if info["failure_reason"]:
        console.print(f"failure: {info['failure_reason']}", markup=False)
    if info["labels"]:
        t = Table(title="labels")
        t.add_column("category")
        t.add_column("subcategories")
        probs = info.get("label_probs") or {}
        for cat, subs in info["labels"].items():
            shown = [
                f"{x} ({probs[cat][x]:.2f})" if probs.get(cat, {}).get(x) is not None else x for x in subs
            ]
            t.add_row(escape(cat), escape(", ".join(shown)))
        console.print(t)
    if info["description"]:
        console.print(f"description: {info['description']}", markup=False)
    if info["outliers"] and info["outliers"].get("action") not in (None, "none"):
        console.print(f"outlier filter: {info['outliers']['action']}", markup=False)
    if info["provenance"]:
        p = info["provenance"]
        if p.get("taxonomy_origin") == "fallback":
            console.print("warning: labels against the FIXED SEED LIST taxonomy (fallback), not an induced one",
                          markup=False)  # fmt: skip
        console.print(
            f"provenance: {p.get('method')} labels, taxonomy v{p['taxonomy_version']} ({p.get('taxonomy_origin')}), "
            f"{p['backend']}:{p['model']}, prompt {p['prompt_hash'][:12]}, "
            f"schema {p['schema_hash'][:12]}, {p['attempts']} attempts, {p['tokens_in']}/{p['tokens_out']} tokens, "
            f"{p['seconds']} s",
            markup=False,
        )
    if info["nearest"]:
        e = info["embedding"]
        t = Table(
            title=f"nearest items of the other domain ({e['model']}, this item's vector: {e['encodes']})"
        )
        for col in ("cosine", "domain", "id", "external id", "title"):
            t.add_column(col)
        for n in info["nearest"]:
            t.add_row(
                f"{n['cosine']:.3f}",
                escape(n["domain"]),
                str(n["id"]),
                escape(n["external_id"]),
                escape(n["title"] or ""),
            )
        console.print(t)
    elif info["embedding"] is None:
        console.print("no embedding yet: run `semacdr embed --domain ...`", markup=False)
