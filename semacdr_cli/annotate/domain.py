"""Item annotation, the entry point: `annotate_domain(store, dataset_id, backend, config)`.

`config.method` picks the job: "score" (default; `annotate/scored.py` runs `annotate/score.py`'s
calibrated option scoring with short descriptions, and `annotate/distill.py` labels the rest with
`--distill`) or "generate" (`annotate/generate.py`: one constrained JSON answer per item with
retries and the App. C outlier filter, `annotate/outliers.py`). Both are resumable (each batch
commits in one transaction, answers are cached in `llm_cache`), store only taxonomy ids as labels,
and end with the degeneracy guard (`labels/stats.py`).
"""

from __future__ import annotations

import time

from semacdr_cli.annotate.summary import AnnotateSummary, Progress
from semacdr_cli.config import AnnotateConfig
from semacdr_cli.llm.base import Backend
from semacdr_cli.store import Store


def prepare_annotation(store: Store, dataset_id: int, config: AnnotateConfig) -> None:
    """Validate the job (settings, the domain, the taxonomy version) before any model is loaded."""
    from semacdr_cli.store.semantic import get_taxonomy

    config.validate()
    store.domain(dataset_id, config.domain)
    get_taxonomy(store, dataset_id, config.taxonomy_version)


def earlier_threads(store: Store, dataset_id: int, config: AnnotateConfig) -> set[int]:
    """The LLM threads recorded on the domain's LLM-labelled items of the job's taxonomy so far."""
    from semacdr_cli.store import semantic as sem

    tax = sem.get_taxonomy(store, dataset_id, config.taxonomy_version)
    rows = sem.domain_annotations(store, store.domain(dataset_id, config.domain)["id"], tax["id"])
    found = ((sem.loads(r["sampling"]) or {}).get("threads") for r in rows if r["method"] != "distilled")
    return {t for t in found if isinstance(t, int)}


def annotate_domain(store: Store, dataset_id: int, backend: Backend, config: AnnotateConfig,
                    progress: Progress | None = None) -> AnnotateSummary:  # fmt: skip
    """Annotate the items of `config.domain` against a taxonomy version; resumable and idempotent
    (the job is prepared, i.e. validated, first)."""
    prepare_annotation(store, dataset_id, config)
    t0 = time.perf_counter()
    earlier = earlier_threads(store, dataset_id, config)
    if config.method == "score":
        from semacdr_cli.annotate.scored import run_scored

        s = run_scored(store, dataset_id, backend, config, progress)
    else:
        from semacdr_cli.annotate.generate import _Annotator

        job = _Annotator(store, dataset_id, backend, config)
        job.annotate(progress)
        job.filter_outliers(progress)
        s = job.summary
    from semacdr_cli.labels.stats import degenerate_categories

    s.guard = degenerate_categories(store, dataset_id, config.domain, config.taxonomy_version)
    if s.threads is not None and s.done + s.failed and earlier - {s.threads}:
        s.warnings.append(
            f"{config.domain}: earlier items of this taxonomy were labelled with {'/'.join(map(str, sorted(earlier)))}"
            f" LLM thread(s), this run's with {s.threads}; under bf16 the answers depend on the threads, so set"
            " $SEMACDR_THREADS to continue a domain as it began (docs/llm.md)"
        )
    s.seconds = round(time.perf_counter() - t0, 3)
    new = s.done + s.failed + s.distilled
    s.items_per_s = round(new / s.seconds, 3) if s.seconds > 0 else 0.0
    s.output_tokens_per_s = round(s.tokens_out / s.seconds, 2) if s.seconds > 0 else 0.0
    s.finish_llm_rates()
    return s
