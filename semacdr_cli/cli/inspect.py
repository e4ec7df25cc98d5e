"""`semacdr inspect item ITEM`: everything the store knows about an item."""

from __future__ import annotations

from typing import Annotated

import typer

from semacdr_cli.cli.common import App, DatasetOption
from semacdr_cli.cli.output import emit, options, plain, table

app = App(help="Look at what the store knows.")


@app.command("item")
def item(
    ref: Annotated[str, typer.Argument(metavar="ITEM", help="Store id or external id (e.g. an ASIN).")],
    nearest: Annotated[
        int, typer.Option("--nearest", help="How many nearest items of the other domain.")
    ] = 5,
    dataset: DatasetOption = None,
) -> None:
    """Show an item: domain, title and text, labels per category, enriched description, provenance,
    failure reason, and its nearest items of the other domain by embedding cosine.

    Example: `semacdr inspect item B000123 --json`

    docs: docs/semantics.md
    """
    from semacdr_cli.inspect_item import inspect_item
    from semacdr_cli.store import Store

    with Store(options().db, create=False) as store:
        ds_id = store.dataset(dataset)["id"] if dataset else None
        info = inspect_item(store, ref, ds_id, nearest)
    emit(info, lambda: _views(info))


def _views(info: dict) -> list:
    """What a person sees of ``inspect_item``'s answer (item text is shown as it is, never as markup)."""
    from rich.markup import escape

    it, p, e = info["item"], info["provenance"], info["embedding"]
    probs = info.get("label_probs") or {}

    def shown(cat, subs):
        return ", ".join(
            f"{x} ({probs[cat][x]:.2f})" if probs.get(cat, {}).get(x) is not None else x for x in subs
        )

    out = [
        f"[bold]{escape(it['title'] or '')}[/bold]  ({escape(it['domain'])}, id {it['id']}, {escape(it['external_id'])})",
        plain(it["text"]) if it["text"] else None,
        plain(f"status: {info['status']}"),
        plain(f"failure: {info['failure_reason']}") if info["failure_reason"] else None,
        table("labels", ("category", "subcategories"), [(plain(c), plain(shown(c, s))) for c, s in info["labels"].items()])
        if info["labels"] else None,
        plain(f"description: {info['description']}") if info["description"] else None,
    ]  # fmt: skip
    if info["outliers"] and info["outliers"].get("action") not in (None, "none"):
        out.append(plain(f"outlier filter: {info['outliers']['action']}"))
    if p:
        if p.get("taxonomy_origin") == "fallback":
            out.append(
                plain("warning: labels against the FIXED SEED LIST taxonomy (fallback), not an induced one")
            )
        out.append(plain(
            f"provenance: {p.get('method')} labels, taxonomy v{p['taxonomy_version']} ({p.get('taxonomy_origin')}), "
            f"{p['backend']}:{p['model']}, prompt {p['prompt_hash'][:12]}, "
            f"schema {p['schema_hash'][:12]}, {p['attempts']} attempts, {p['tokens_in']}/{p['tokens_out']} tokens, "
            f"{p['seconds']} s"
        ))  # fmt: skip
    if info["nearest"]:
        rows = [(f"{n['cosine']:.3f}", plain(n["domain"]), n["id"], plain(n["external_id"]), plain(n["title"] or ""))
                for n in info["nearest"]]  # fmt: skip
        title = f"nearest items of the other domain ({e['model']}, this item's vector: {e['encodes']})"
        out.append(table(title, ("cosine", "domain", "id", "external id", "title"), rows))
    elif e is None:
        out.append(plain("no embedding yet: run `semacdr embed --domain ...`"))
    return out


def register(root: typer.Typer) -> None:
    """Mount this command group on the root (every cli module has one `register`)."""
    root.add_typer(app, name="inspect")
