"""`semacdr data ...`: import, demo data, statistics, list, schema."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from semacdr_cli.cli.common import App, DatasetOption
from semacdr_cli.cli.output import emit, err_console, options, plain, say, table
from semacdr_cli.errors import SemacdrError

app = App(help="Import interaction data into the store and report on it.")


def _split_domains(domains: str | None) -> list[str] | None:
    if domains is None:
        return None
    names = [d.strip() for d in domains.split(",") if d.strip()]
    if len(names) != len(set(names)):
        raise SemacdrError(f"--domains: a domain is named twice in {domains!r}")
    return names


@contextmanager
def _progress(enabled: bool = True):
    """A rich progress bar on stderr (stdout stays clean for --json); yields the callback."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(label: str, done: int, total: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(f"reading {label}", total=total or None)
            bar.update(tasks[label], completed=done)

        yield update


def _render_import(result) -> None:
    pre = result.params["preprocessing"]
    data = {
        "dataset": result.name,
        "dataset_id": result.dataset_id,
        "format": result.format,
        "domains": result.domains,
        "replaced": result.replaced,
        "seconds": round(result.seconds, 2),
        "flags": result.params["flags"],
        "preprocessing": pre,
        "short_sequences": result.params["short_sequences"],
    }
    b, a = pre["before"], pre["after"]
    steps = [(s["step"], s["setting"] or "", f"{s['removed_interactions']:,}") for s in pre["steps"]]
    totals = [
        ("before", "", f"{b['interactions']:,} ({b['users']:,} users, {b['items']:,} items)"),
        ("after", "", f"{a['interactions']:,} ({a['users']:,} users, {a['items']:,} items)"),
    ]
    short = {d: v for d, v in result.params["short_sequences"].items() if v["1"] or v["2"]}
    notes = [
        f"note: in {d}, {v['2']:,} users have 2 interactions (train + test, no valid) and {v['1']:,} have 1 (test only)"
        for d, v in short.items()
    ]
    verb = "replaced" if result.replaced else "imported"
    emit(
        data,
        table(f"Preprocessing of {result.name!r} (App. B)", ("step", "setting", "removed interactions"), steps,
              right=("removed interactions",), sections=[totals]),
        f"filters reached a fixed point after {pre['rounds']} round(s)" if pre["rounds"] else None,
        *map(plain, notes),
        f"{verb} dataset [bold]{result.name}[/bold] ({', '.join(result.domains)}) in {result.seconds:.1f} s",
    )  # fmt: skip


@app.command("import")
def import_(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="amazon | csv | llmcdsr | c2dsr")],
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="A folder (csv, llmcdsr, c2dsr) or, for amazon, REVIEWS META per domain in --domains order."
        ),
    ],
    domains: Annotated[
        str | None,
        typer.Option(
            "--domains", help="Comma-separated domain names; the first is domain A (the low id range)."
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Dataset name (default: the folder name).")
    ] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a dataset of the same name.")] = False,
    filter_: Annotated[
        bool | None,
        typer.Option(
            "--filter/--no-filter",
            help="The paper's item/user thresholds (default: on for amazon and csv, off for llmcdsr and c2dsr).",
            show_default=False,
        ),
    ] = None,
    min_item: Annotated[
        int | None,
        typer.Option(
            "--min-item-interactions", help="Keep items with at least N interactions [10 when filtering]."
        ),
    ] = None,
    min_user: Annotated[
        int | None,
        typer.Option(
            "--min-user-interactions",
            help="Keep a user's domain with at least N interactions [3 when filtering].",
        ),
    ] = None,
    dedupe: Annotated[
        bool, typer.Option("--dedupe/--keep-duplicates", help="Remove repeated user-item events.")
    ] = True,
    overlapped_only: Annotated[
        bool, typer.Option("--overlapped-only/--all-users", help="Keep only users present in every domain.")
    ] = True,
) -> None:
    """Import a data set in one transaction, with the paper's preprocessing (App. B).

    Examples:

    `semacdr data import llmcdsr ../shared/data/amazon-food-kitchen --domains food,kitchen`

    `semacdr data import amazon reviews_Grocery.json.gz meta_Grocery.json.gz reviews_Home.json.gz meta_Home.json.gz --domains food,kitchen`

    `semacdr data import csv my-data/ --domains book,movie --min-item-interactions 5`

    docs: docs/data.md
    """
    from semacdr_cli.ingest import import_dataset
    from semacdr_cli.store import Store

    with Store(options().db) as store, _progress() as progress:
        result = import_dataset(
            store,
            fmt,
            [str(p) for p in paths],
            domains=_split_domains(domains),
            name=name,
            replace=replace,
            filter=filter_,
            min_item=min_item,
            min_user=min_user,
            dedupe=dedupe,
            overlapped_only=overlapped_only,
            progress=progress,
        )
    if name is None:
        say(f"(no --name given: the dataset is called [bold]{result.name}[/bold])")
    _render_import(result)


@app.command("demo")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the CSV files into.")] = Path(
        "demo-data"
    ),
    users: Annotated[int, typer.Option("--users", min=1, help="Number of synthetic users.")] = 600,
    items_per_domain: Annotated[
        int, typer.Option("--items-per-domain", min=8, help="Items per domain.")
    ] = 72,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 0,
    name: Annotated[str, typer.Option("--name", help="Dataset name in the store.")] = "demo",
    no_import: Annotated[bool, typer.Option("--no-import", help="Only write the files.")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite a dataset of the same name.")] = False,
) -> None:
    """Write the small synthetic two-domain data set (books and movies, tastes shared across
    domains), labelled synthetic, and import it.

    Example: `semacdr data demo --out demo-data --users 600 --seed 0`

    docs: docs/data.md
    """
    from semacdr_cli.datasets.demo import write_demo
    from semacdr_cli.ingest import import_demo

    paths = write_demo(out, users=users, items_per_domain=items_per_domain, seed=seed)
    if no_import:
        emit(
            {"written": {k: str(v) for k, v in paths.items()}},
            plain(f"wrote the synthetic demo data to {out} ({len(paths)} files); import it with "
                  f"`semacdr data import csv {out}`"),
        )  # fmt: skip
        return
    from semacdr_cli.store import Store

    with Store(options().db) as store:
        result = import_demo(store, out, name=name, replace=replace)
    say(f"wrote the synthetic demo data to {out}")
    _render_import(result)


@app.command("stats")
def stats(dataset: DatasetOption = None) -> None:
    """Per-domain statistics (the paper's Table 4), split sizes and annotation coverage.

    Example: `semacdr data stats --dataset amazon-food-kitchen --json`

    docs: docs/data.md
    """
    from semacdr_cli.stats import dataset_stats
    from semacdr_cli.store import Store

    with Store(options().db, create=False) as store:
        st = dataset_stats(store, dataset)
    label = st["dataset"] + (" (synthetic)" if st["synthetic"] else "")
    columns = (
        "domain",
        "users",
        "items",
        "inter.",
        "avg len",
        "train",
        "valid",
        "test",
        "annot.",
        "failed",
        "embed.",
    )
    rows = []
    for d, v in st["domains"].items():
        sp = v["splits"]
        rows.append((d, f"{v['users']:,}", f"{v['items']:,}", f"{v['interactions']:,}", f"{v['avg_len']:.2f}",
                     f"{sp['train']:,}", f"{sp['valid']:,}", f"{sp['test']:,}", f"{v['annotated']:,}",
                     f"{v['failed']:,}", f"{v['embedded']:,}"))  # fmt: skip
    title = f"{label}: {st['overlapped_users']:,} overlapped users"
    emit(st, lambda: table(title, columns, rows, right=columns[1:]))


@app.command("list")
def list_() -> None:
    """The datasets in the store.

    Example: `semacdr data list --json`

    docs: docs/data.md
    """
    from semacdr_cli.store import Store
    from semacdr_cli.store.interactions import list_datasets

    db = options().db
    with Store(db, create=False) as store:
        rows = list_datasets(store)
    cells = [
        (r["name"], r["format"], ",".join(r["domains"]), f"{r['users']:,}", f"{r['interactions']:,}",
         "yes" if r["synthetic"] else "", r["created_at"])
        for r in rows
    ]  # fmt: skip
    columns = ("name", "format", "domains", "users", "interactions", "synthetic", "imported")
    emit(rows, lambda: table(f"datasets in {db}", columns, cells))


@app.command("schema")
def schema(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the markdown here instead of stdout.")
    ] = None,
) -> None:
    """The store schema as markdown, generated from the migrations.

    Example: `semacdr data schema --out docs/schema.md`

    docs: docs/schema.md
    """
    from semacdr_cli.store import schema_markdown

    text = schema_markdown()
    if out is None:
        typer.echo(text)
        return
    if not out.parent.exists():
        raise SemacdrError("the folder does not exist", path=str(out))
    out.write_text(text + "\n", encoding="utf-8")
    say(f"wrote {out}")


def register(root: typer.Typer) -> None:
    """Mount this command group on the root (every cli module has one `register`)."""
    root.add_typer(app, name="data")
