"""`semacdr annotate --domain D`: LLM labels and enriched descriptions for every item."""

from __future__ import annotations

from typing import Annotated

import typer

from semacdr_cli.cli.common import DatasetOption, JobConfigOption
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
from semacdr_cli.config import ANNOTATE_MAX_TOKENS, AnnotateConfig, OutlierConfig
from semacdr_cli.llm.base import SamplingConfig

# option defaults come from the job's config dataclasses (one place for each default)
_A, _O, _S = AnnotateConfig, OutlierConfig, SamplingConfig


def _summary_views(s) -> list:
    rows = (
        ("method", s.method), ("labels per item", s.labels_per_item), ("described", s.described),
        ("distilled", s.distilled), ("failures by reason", s.failures_by_reason or "-"),
        ("items in scope", s.in_scope), ("already done (skipped)", s.skipped), ("done", s.done),
        ("cached answers", s.cached), ("retried", s.retried), ("failed", s.failed),
        ("filtered (outliers)", s.filtered), ("tokens in", s.tokens_in), ("tokens out", s.tokens_out),
        ("items/s", s.items_per_s), ("output tokens/s", s.output_tokens_per_s), ("seconds", s.seconds),
        ("LLM label scoring, items/s", s.scored_per_s or "-"), ("LLM descriptions/s", s.described_per_s or "-"),
        ("threads", s.threads if s.threads is not None else "-"),
    )  # fmt: skip
    title = f"annotate {s.domain} (taxonomy v{s.taxonomy_version}, {s.backend}:{s.model})"
    return [
        table(title, ("", "value"), rows, right=("value",)),
        plain(f"outlier filter: {s.outlier_check}") if s.outlier_check else None,
    ]


def register(app: typer.Typer) -> None:
    @app.command("annotate")
    def annotate(
        domain: Annotated[str, typer.Option("--domain", help="Domain whose items to annotate.")],
        method: Annotated[
            str,
            typer.Option(
                "--method",
                rich_help_panel="Labels",
                help="score: calibrated option scoring, prefill only (default); "
                "generate: constrained JSON generation.",
            ),
        ] = _A.method,
        describe: Annotated[
            bool,
            typer.Option(
                "--describe/--no-describe",
                rich_help_panel="Labels",
                help="score: write a short description per item (--no-describe: labels only).",
            ),
        ] = _A.describe,
        distill: Annotated[
            int | None,
            typer.Option(
                "--distill",
                rich_help_panel="Labels",
                help="Label a stratified sample of N items with the "
                "LLM, every other item by a classifier on MiniLM vectors.",
            ),
        ] = None,
        label_threshold: Annotated[
            float | None,
            typer.Option(
                "--label-threshold",
                rich_help_panel="Labels",
                help="score: calibrated "
                "probability a label needs (default 2/n for n "
                "subcategories, at most 0.5).",
            ),
        ] = None,
        max_labels: Annotated[
            int, typer.Option("--max-labels", rich_help_panel="Labels", help="Labels per category at most.")
        ] = _A.max_labels_per_category,
        calibration: Annotated[
            str,
            typer.Option(
                "--calibration",
                rich_help_panel="Labels",
                help="score: domain (each option's mean score "
                "over 64 items of the domain is subtracted), content-free (an 'N/A' "
                "item's), or none.",
            ),
        ] = _A.calibration,
        strict: Annotated[
            bool,
            typer.Option(
                "--strict",
                rich_help_panel="Labels",
                help="Exit non-zero when a category's labels are degenerate (>= 80% one label).",
            ),
        ] = False,
        limit: Annotated[
            int | None,
            typer.Option(
                "--limit", rich_help_panel="Which items", help="Only the first N items (by --order)."
            ),
        ] = None,
        order: Annotated[
            str,
            typer.Option(
                "--order",
                rich_help_panel="Which items",
                help="Which items --limit keeps: id (first by id) or popular (most interactions first).",
            ),
        ] = _A.order,
        retries: Annotated[
            int,
            typer.Option(
                "--retries",
                rich_help_panel="Generate method and its App. C filter",
                help="Re-generations of a non-conforming answer.",
            ),
        ] = _A.retries,
        taxonomy_version: Annotated[
            int | None,
            typer.Option(
                "--taxonomy-version",
                rich_help_panel="Which items",
                help="Taxonomy version (default: latest).",
            ),
        ] = None,
        retry_failed: Annotated[
            bool,
            typer.Option(
                "--retry-failed", rich_help_panel="Which items", help="Run items stored as failed again."
            ),
        ] = False,
        max_description_chars: Annotated[
            int,
            typer.Option("--max-description-chars", rich_help_panel="Generate method and its App. C filter"),
        ] = _A.max_description_chars,
        no_outlier_filter: Annotated[
            bool,
            typer.Option(
                "--no-outlier-filter",
                rich_help_panel="Generate method and its App. C filter",
                help="Skip the App. C filter.",
            ),
        ] = False,
        outlier_min_items: Annotated[
            int,
            typer.Option(
                "--outlier-min-items",
                rich_help_panel="Generate method and its App. C filter",
                help="Filter only when the domain has this many annotations.",
            ),
        ] = _O.min_items,
        min_label_freq: Annotated[
            int,
            typer.Option(
                "--min-label-freq",
                rich_help_panel="Generate method and its App. C filter",
                help="A label given to fewer items than this is rare.",
            ),
        ] = _O.min_label_count,
        min_label_share: Annotated[
            float,
            typer.Option(
                "--min-label-share",
                rich_help_panel="Generate method and its App. C filter",
                help="... or to less than this share of the items.",
            ),
        ] = _O.min_label_share,
        min_term_df: Annotated[
            int,
            typer.Option(
                "--min-term-df",
                rich_help_panel="Generate method and its App. C filter",
                help="A description word in fewer descriptions than this is rare.",
            ),
        ] = _O.min_term_df,
        max_rare_term_share: Annotated[
            float,
            typer.Option(
                "--max-rare-term-share",
                rich_help_panel="Generate method and its App. C filter",
                help="Descriptions with more rare words are outliers.",
            ),
        ] = _O.max_rare_term_share,
        backend: BackendOption = None,
        model: ModelOption = None,
        base_url: BaseUrlOption = None,
        prompts: PromptsOption = None,
        batch_size: Annotated[
            int | None,
            typer.Option(
                "--batch-size",
                rich_help_panel="LLM",
                help="Items per LLM call and per commit (default: 8 on transformers, 64 on vllm/openai).",
            ),
        ] = None,
        seed: SeedOption = _S.seed,
        temperature: TemperatureOption = _S.temperature,
        repetition_penalty: RepetitionPenaltyOption = _S.repetition_penalty,
        max_tokens: Annotated[
            int, typer.Option("--max-tokens", rich_help_panel="LLM", help="Output token budget per item.")
        ] = ANNOTATE_MAX_TOKENS,
        job_config: JobConfigOption = None,
        dataset: DatasetOption = None,
    ) -> None:
        """Annotate the items of one domain against the current taxonomy (labels + enriched description).

        Resumable: run the same command again after an interruption and it finishes the job.

        Example: `semacdr annotate --domain food --limit 50 --json`

        docs: docs/semantics.md; code: semacdr_cli/annotate/domain.py (the job), annotate/score.py (the
        labels), annotate/distill.py (--distill), annotate/generate.py (--method generate)
        """
        from semacdr_cli.annotate.domain import annotate_domain, prepare_annotation
        from semacdr_cli.config import AnnotateConfig, OutlierConfig
        from semacdr_cli.errors import SemacdrError
        from semacdr_cli.llm.base import SamplingConfig
        from semacdr_cli.store import Store

        backend = pick_backend_name(backend)
        batch_size = default_batch_size(backend) if batch_size is None else batch_size
        cfg = AnnotateConfig(
            domain=domain,
            method=method,
            describe=describe,
            distill=distill,
            label_threshold=label_threshold,
            max_labels_per_category=max_labels,
            calibration=calibration,
            strict=strict,
            limit=limit,
            order=order,
            retries=retries,
            taxonomy_version=taxonomy_version,
            batch_size=batch_size,
            max_description_chars=max_description_chars,
            retry_failed=retry_failed,
            sampling=SamplingConfig(
                temperature=temperature,
                max_tokens=max_tokens,
                seed=seed,
                repetition_penalty=repetition_penalty,
            ),
            outliers=OutlierConfig(
                enabled=not no_outlier_filter,
                min_items=outlier_min_items,
                min_label_count=min_label_freq,
                min_label_share=min_label_share,
                min_term_df=min_term_df,
                max_rare_term_share=max_rare_term_share,
            ),
            prompts_dir=prompts,
        )
        with Store(options().db, create=False) as store:  # parse -> prepare -> build backend -> run -> render
            ds = store.dataset(dataset)
            prepare_annotation(store, ds["id"], cfg)  # fails here, before a model loads
            with backend_job(backend, model, base_url, batch_size) as (llm, progress):
                summary = annotate_domain(store, ds["id"], llm, cfg, progress)
        emit(summary.as_dict(), lambda: _summary_views(summary))
        for line in summary.guard:
            err_console.print(f"warning: degenerate labels: {line}", markup=False)
        for line in summary.warnings:
            err_console.print(f"warning: {line}", markup=False)
        if summary.guard and strict:
            raise SemacdrError(
                f"{len(summary.guard)} degenerate categories (--strict); see `semacdr labels stats`"
            )
