"""Taxonomy induction, the entry point: `induce_taxonomy(store, dataset_id, backend, config)` runs
`--method facets` (default, `taxonomy/facets.py`: short answers about clusters of items, which a
135M model can give) or `--method propose` (`taxonomy/propose.py`: propose -> merge -> refine,
for larger models) and stores the result as a new taxonomy version. Rules: `taxonomy/rules.py`;
files: `taxonomy/files.py`."""

from __future__ import annotations

import time

from semacdr_cli.config import TaxonomyConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend
from semacdr_cli.prompting import load_template, sha256_text
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem
from semacdr_cli.taxonomy.asking import InduceResult, Progress
from semacdr_cli.taxonomy.propose import fallback_categories, induce_by_proposals


def prepare_induction(store: Store, dataset_id: int, config: TaxonomyConfig) -> None:
    """Validate the job (settings, both domains, the prompt files) before any model is loaded."""
    if config.k < 1:
        raise SemacdrError("-K: must be at least 1")
    if config.sample < 1 or config.minibatch < 1:
        raise SemacdrError("--sample and --minibatch must be at least 1")
    if config.batch_size < 1:
        raise SemacdrError("--batch-size: must be at least 1")
    if config.source == config.target:
        raise SemacdrError("--source and --target must be two different domains")
    for d in (config.source, config.target):
        store.domain(dataset_id, d)
    if config.method not in ("facets", "propose"):
        raise SemacdrError(f"--method: must be facets or propose, not {config.method!r}")
    if config.method == "propose":
        for name in ("taxonomy_propose", "taxonomy_consolidate", "taxonomy_refine"):
            load_template(name, config.prompts_dir)


def induce_taxonomy(
    store: Store,
    dataset_id: int,
    backend: Backend,
    config: TaxonomyConfig,
    progress: Progress | None = None,
) -> InduceResult:
    """Induce a taxonomy from `config.source` and `config.target` items and store it as a new version
    (the job is prepared, i.e. validated, first)."""
    prepare_induction(store, dataset_id, config)
    t0 = time.perf_counter()
    domains = [config.source, config.target]
    dom_rows = [store.domain(dataset_id, d) for d in domains]
    if config.method == "facets":
        return _induce_by_facets(store, dataset_id, backend, config, progress, domains)
    return induce_by_proposals(store, dataset_id, backend, config, progress, domains, dom_rows, t0)


def _induce_by_facets(store, dataset_id, backend, config, progress, domains) -> InduceResult:
    from semacdr_cli.taxonomy.facets import induce_facets

    cats, stats, hashes = induce_facets(store, dataset_id, backend, config, progress)
    origin, path = "induced", "facets"
    if cats is None:
        if not config.allow_fallback:
            raise SemacdrError(f"taxonomy induction failed: {stats['failure']}; try more items (--sample), "
                               "--method propose with a larger --model, or --allow-fallback")  # fmt: skip
        cats, origin, path = fallback_categories(config.k), "fallback", "fallback-seed-list"
    stats["path"], stats["fallback"] = path, origin == "fallback"
    params = {"config": config.as_dict(), "hashes": hashes, "stats": stats}
    tax_id, version, stats["kept"] = sem.insert_taxonomy_unless_latest(
        store, dataset_id, cats, origin=origin, domains=domains, model=backend.model, backend=backend.name,
        prompt_hash=sha256_text("".join(hashes.values())), schema_hash=None, params=params,
    )  # fmt: skip
    return InduceResult(tax_id, version, cats, path, stats)
