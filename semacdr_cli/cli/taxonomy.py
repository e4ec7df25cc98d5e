"""`semacdr taxonomy ...`: induce, show, export, import the domain-agnostic taxonomy."""

from __future__ import annotations

from typing import Annotated

import typer

from semacdr_cli.cli.common import App, DatasetOption, JobConfigOption
from semacdr_cli.cli.llm_common import (
    BackendOption,
    BaseUrlOption,
    ModelOption,
    PromptsOption,
    RepetitionPenaltyOption,
    SeedOption,
    TemperatureOption,
    backend_job,
    default_batch_size,
    pick_backend_name,
)
from semacdr_cli.cli.output import emit, err_console, options, plain, table
from semacdr_cli.config import TAXONOMY_MAX_TOKENS, TaxonomyConfig
from semacdr_cli.llm.base import SamplingConfig

# option defaults come from the job's config dataclasses
_T, _S = TaxonomyConfig, SamplingConfig

app = App(help="Induce and review the domain-agnostic taxonomy (K categories with subcategories).")

VersionOption = Annotated[int | None, typer.Option("--version", help="Taxonomy version (default: latest).")]


def _taxonomy_table(doc: dict):
    prov = doc.get("provenance") or {}
    how = prov.get("path") or doc.get("origin")
    rows = [(plain(c["name"]), plain(", ".join(c["subcategories"]))) for c in doc["categories"]]
    return table(
        f"taxonomy v{doc['version']} ({doc.get('origin')}; {how})", ("category", "subcategories"), rows
    )


@app.command("induce")
def induce(
    source: Annotated[str, typer.Option("--source", help="Source domain name.")],
    target: Annotated[str, typer.Option("--target", help="Target domain name.")],
    k: Annotated[int, typer.Option("-K", "--k", help="Number of high-level categories (App. E: 7).")] = _T.k,
    sample: Annotated[int, typer.Option("--sample", help="Items sampled per domain.")] = _T.sample,
    minibatch: Annotated[int, typer.Option("--minibatch", help="Items per proposal prompt.")] = _T.minibatch,
    retries: Annotated[
        int, typer.Option("--retries", help="Re-generations of a merge/refine that fails.")
    ] = _T.retries,
    no_refine: Annotated[bool, typer.Option("--no-refine", help="Skip the refine step.")] = False,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="facets: short answers about item clusters (works with "
            "the bundled 135M model); propose: propose -> merge -> refine (large models).",
        ),
    ] = _T.method,
    clusters: Annotated[
        int | None, typer.Option("--clusters", help="facets: item clusters (default min(16, items/5)).")
    ] = None,
    allow_fallback: Annotated[
        bool,
        typer.Option(
            "--allow-fallback",
            help="When induction fails, store the fixed "
            "generic seed list (origin 'fallback') instead of failing.",
        ),
    ] = _T.allow_fallback,
    backend: BackendOption = None,
    model: ModelOption = None,
    base_url: BaseUrlOption = None,
    prompts: PromptsOption = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", help="Prompts per LLM call (default: 8 on transformers, 64 on vllm/openai)."
        ),
    ] = None,
    seed: SeedOption = _S.seed,
    temperature: TemperatureOption = _S.temperature,
    repetition_penalty: RepetitionPenaltyOption = _S.repetition_penalty,
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="Output token budget per answer.")
    ] = TAXONOMY_MAX_TOKENS,
    job_config: JobConfigOption = None,
    dataset: DatasetOption = None,
) -> None:
    """Induce a taxonomy from items of two domains and store a new version (--method facets, the default,
    or propose -> merge -> refine).

    Example: `semacdr taxonomy induce --source food --target kitchen -K 7 --sample 40`

    docs: docs/semantics.md; code: semacdr_cli/taxonomy/induce.py (the job), taxonomy/facets.py,
    taxonomy/propose.py (the methods)
    """
    from semacdr_cli.config import TaxonomyConfig
    from semacdr_cli.llm.base import SamplingConfig
    from semacdr_cli.store import Store
    from semacdr_cli.taxonomy.files import taxonomy_document
    from semacdr_cli.taxonomy.induce import induce_taxonomy, prepare_induction

    backend = pick_backend_name(backend)
    batch_size = default_batch_size(backend) if batch_size is None else batch_size
    cfg = TaxonomyConfig(
        source=source,
        target=target,
        k=k,
        sample=sample,
        minibatch=minibatch,
        retries=retries,
        refine=not no_refine,
        method=method,
        clusters=clusters,
        allow_fallback=allow_fallback,
        seed=seed,
        batch_size=batch_size,
        sampling=SamplingConfig(
            temperature=temperature, max_tokens=max_tokens, seed=seed, repetition_penalty=repetition_penalty
        ),
        prompts_dir=prompts,
    )
    with Store(options().db, create=False) as store:  # parse -> prepare -> build backend -> run -> render
        ds = store.dataset(dataset)
        prepare_induction(store, ds["id"], cfg)
        with backend_job(backend, model, base_url, batch_size) as (llm, progress):
            result = induce_taxonomy(store, ds["id"], llm, cfg, progress)
        doc = taxonomy_document(store, ds["id"], result.version)
        doc["this_run"] = result.stats  # the stored provenance is the first run's when the version was kept
    st = result.stats
    how = (f"{st['clusters']} clusters x {st['facets_asked']} facet questions" if st.get("method") == "facets"
           else f"{st['proposals']} proposed categories from {st['minibatches']} minibatches")  # fmt: skip
    stored = (f"identical to the latest version {result.version}, kept (its annotations stay valid)"
              if st.get("kept") else f"stored as version {result.version}")  # fmt: skip
    summary = (f"{stored} via {result.path}: {how}, {st['llm_calls']} LLM calls ({st['cached_calls']} cached), "
               f"{st['tokens_out']} output tokens, {st['seconds']} s")  # fmt: skip
    emit(doc, lambda: _taxonomy_table(doc), plain(summary))
    if doc["origin"] == "fallback":
        err_console.print("warning: this taxonomy is the FIXED SEED LIST (--allow-fallback), not induced from the "
                          "items; labels against it say little about them", markup=False)  # fmt: skip


@app.command("show")
def show(
    version: VersionOption = None,
    dataset: DatasetOption = None,
) -> None:
    """Print the current (or a given) taxonomy version.

    Example: `semacdr taxonomy show --json`

    docs: docs/semantics.md
    """
    from semacdr_cli.store import Store
    from semacdr_cli.taxonomy.files import taxonomy_document

    with Store(options().db, create=False) as store:
        doc = taxonomy_document(store, store.dataset(dataset)["id"], version)
    if doc["origin"] == "fallback":
        err_console.print("warning: this taxonomy is the FIXED SEED LIST (--allow-fallback), not induced from the items",
                          markup=False)  # fmt: skip
    emit(doc, lambda: _taxonomy_table(doc))


@app.command("export")
def export(
    file: Annotated[str, typer.Argument(help="JSON file to write.")],
    version: VersionOption = None,
    dataset: DatasetOption = None,
) -> None:
    """Write a taxonomy version to a JSON file for review and editing.

    Example: `semacdr taxonomy export taxonomy.json` then edit it and `semacdr taxonomy import taxonomy.json`

    docs: docs/semantics.md
    """
    from semacdr_cli.store import Store
    from semacdr_cli.taxonomy.files import export_taxonomy

    with Store(options().db, create=False) as store:
        doc = export_taxonomy(store, store.dataset(dataset)["id"], file, version)
    emit(
        {"file": file, "version": doc["version"], "categories": len(doc["categories"])},
        plain(f"wrote taxonomy v{doc['version']} ({len(doc['categories'])} categories) to {file}"),
    )


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="JSON file (the format `taxonomy export` writes).")],
    dataset: DatasetOption = None,
) -> None:
    """Validate a reviewed taxonomy file and store it as a new version (origin "imported").

    Example: `semacdr taxonomy import taxonomy.json`

    docs: docs/semantics.md
    """
    from semacdr_cli.store import Store
    from semacdr_cli.taxonomy.files import import_taxonomy

    with Store(options().db, create=False) as store:
        _, version = import_taxonomy(store, store.dataset(dataset)["id"], file)
    emit(
        {"file": file, "version": version, "origin": "imported"},
        plain(f"imported {file} as taxonomy version {version}"),
    )


def register(root: typer.Typer) -> None:
    """Mount this command group on the root (every cli module has one `register`)."""
    root.add_typer(app, name="taxonomy")
