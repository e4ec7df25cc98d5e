"""The scoring annotation job over one domain: `run_scored` labels the items in scope (`--limit`,
`--order`) with `annotate/score.py`'s `ScoreLabeler`, or, with `--distill N`, a stratified sample
of N items whose labels `annotate/distill.py` then spreads to every item of the domain.
"""

from __future__ import annotations

from collections.abc import Callable

from semacdr_cli.annotate.distill import distill_domain
from semacdr_cli.annotate.item_text import item_text
from semacdr_cli.annotate.score import ScoreLabeler
from semacdr_cli.annotate.summary import AnnotateSummary
from semacdr_cli.config import AnnotateConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm.base import Backend
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem

Progress = Callable[[str, int, int], None]


def run_scored(store: Store, dataset_id: int, backend: Backend, config: AnnotateConfig,
               progress: Progress | None = None) -> AnnotateSummary:  # fmt: skip
    domain = store.domain(dataset_id, config.domain)
    taxonomy = sem.get_taxonomy(store, dataset_id, config.taxonomy_version)
    tree = sem.taxonomy_tree(store, taxonomy["id"])
    if not tree:
        raise SemacdrError(f"taxonomy version {taxonomy['version']} has no categories")
    summary = AnnotateSummary(domain=config.domain, taxonomy_version=taxonomy["version"], model=backend.model,
                              backend=backend.name, method="score", threads=getattr(backend, "threads", None))  # fmt: skip
    labeler = ScoreLabeler(store, taxonomy, tree, backend, config, summary, domain["id"])
    if config.distill:
        distill_domain(store, domain["id"], taxonomy, tree, labeler, config, progress, summary)
    else:
        todo, done_before = sem.items_to_annotate(store, domain["id"], taxonomy["id"], config.limit,
                                                  config.retry_failed, order=config.order)  # fmt: skip
        summary.in_scope, summary.skipped = len(todo) + done_before, done_before
        labeler.run(todo, item_text, progress)
    if config.describe:
        dropped = labeler.drop_boilerplate(domain["id"])
        if dropped:
            labeler.reasons["description: boilerplate"] += dropped
            summary.filtered += dropped
    summary.outlier_check = (
        "descriptions checked by text_checks (garbage, loops, copied instructions, boilerplate)"
    )
    summary.failures_by_reason = dict(labeler.reasons)
    labelled = summary.done + summary.distilled
    summary.labels_per_item = round(summary.labels / labelled, 3) if labelled else 0.0
    return summary
