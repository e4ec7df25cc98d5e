"""The whole SemaCDR pipeline as one resumable job (what `semacdr demo` runs).

data -> import -> taxonomy induce -> annotate both domains -> embed both domains -> train SASRec,
SemaCDR without semantics and SemaCDR, each over ``seeds`` seeds -> eval -> report. Every stage leaves its result in the store, so a second run
skips what is done (the dataset, the taxonomy, annotated and embedded items, the converted model)
and only trains and reports again. Stage timings are written to ``OUT/pipeline.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem
from semacdr_cli.store.interactions import find_dataset
from semacdr_cli.store.semantic import taxonomy_versions

# The demo's sizes. "default" is the README's main job; "tiny" is what CI's end-to-end test runs.
# The taxonomy comes from `--method facets` (short answers about item clusters, which SmolLM2-135M
# can give), labels from calibrated option scoring (prefill only, ~20 items/s on 2 cores) and a short
# description per item (the slow part: ~48 generated tokens each).
SIZES: dict[str, dict[str, Any]] = {
    "default": {"users": 500, "items_per_domain": 40, "sample": 40, "clusters": 12, "epochs": 300, "k": 5},
    "tiny": {"users": 80, "items_per_domain": 10, "sample": 10, "clusters": 6, "epochs": 2, "k": 3},
}
DEMO_ANNOTATION = {"max_labels_per_category": 2, "max_description_chars": 200}


@dataclass
class DemoConfig:
    out: Path = Path("demo-out")
    size: str = "default"
    source: str = "book"
    target: str = "movie"
    backend: str | None = None  # None: the CLI's default choice
    model: str | None = None  # None: the bundled SmolLM2
    base_url: str | None = None
    batch_size: int = 16
    seed: int = 0
    epochs: int | None = None  # None: the size's default
    # "model" or "model:ablation"; the report's first table compares them (mean ± std over ``seeds``)
    models: tuple[str, ...] = ("sasrec", "semacdr:no-semantics", "semacdr")
    seeds: int = 3  # seeds per model (seed, seed + 1, ...)
    jobs: int = 0  # seeds trained side by side (0: one per free core; the demo's models are small)
    dataset: str | None = None  # None: "demo", or "demo-<size>" for other sizes

    def sizes(self) -> dict[str, Any]:
        if self.size not in SIZES:
            from semacdr_cli.errors import SemacdrError

            raise SemacdrError(f"--size: one of {', '.join(SIZES)}")
        return SIZES[self.size]


@dataclass
class StageTiming:
    name: str
    seconds: float
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoResult:
    stages: list[StageTiming]
    runs: dict[str, list[int]]  # per model spec, its runs (one per seed)
    metrics: dict[str, dict]  # per model spec, the mean over its seeds (``std`` beside)
    report: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "stages": [asdict(s) for s in self.stages],
            "total_seconds": round(sum(s.seconds for s in self.stages), 2),
            "runs": self.runs,
            "metrics": self.metrics,
            "report": self.report,
        }


Announce = Callable[[str], None]  # called with a stage name as it starts
BackendFactory = Callable[[], Any]  # builds the LLM backend when a stage needs it
ProgressFactory = Callable[[], Any]  # a context manager yielding a (phase, done, total) callback


def run_demo(
    db_path: str | Path,
    cfg: DemoConfig,
    make_backend: BackendFactory,
    progress: ProgressFactory,
    announce: Announce = lambda name: None,
) -> DemoResult:
    """Run (or resume) the pipeline on the synthetic demo data; see the module docstring."""
    from semacdr_cli.annotate.domain import annotate_domain
    from semacdr_cli.config import AnnotateConfig, EmbedConfig, TaxonomyConfig
    from semacdr_cli.datasets.demo import write_demo
    from semacdr_cli.embed import embed_domain
    from semacdr_cli.ingest import import_demo
    from semacdr_cli.llm.base import SamplingConfig
    from semacdr_cli.taxonomy.files import taxonomy_document
    from semacdr_cli.taxonomy.induce import induce_taxonomy

    size = cfg.sizes()
    if cfg.dataset is None:
        cfg.dataset = "demo" if cfg.size == "default" else f"demo-{cfg.size}"
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    stages: list[StageTiming] = []
    backend = None

    def stage(name: str):
        announce(name)
        return _Timer(name, stages)

    def llm():
        nonlocal backend
        if backend is None:
            backend = make_backend()
        return backend

    try:
        with Store(db_path) as store:
            # 1. data: write the synthetic files and import them (skipped when already in the store)
            with stage("data") as t:
                data_dir = out / "data"
                write_demo(
                    data_dir, users=size["users"], items_per_domain=size["items_per_domain"], seed=cfg.seed
                )
                if find_dataset(store.conn, cfg.dataset) is None:  # same name, same size, same bytes
                    import_demo(store, data_dir, name=cfg.dataset)
                    t.detail["imported"] = True
                ds = store.dataset(cfg.dataset)
                t.detail["dataset"] = cfg.dataset

            # 2. taxonomy: induced once per dataset; later runs reuse the latest version
            with stage("taxonomy") as t:
                doc = _latest_taxonomy(store, ds["id"], taxonomy_document)
                if doc is None:
                    tcfg = TaxonomyConfig(
                        source=cfg.source, target=cfg.target, k=size["k"], sample=size["sample"],
                        clusters=size["clusters"], seed=cfg.seed, batch_size=cfg.batch_size, method="facets",
                    )  # fmt: skip
                    with progress() as bar:
                        res = induce_taxonomy(store, ds["id"], llm(), tcfg, bar)
                    t.detail.update(version=res.version, path=res.path)
                    doc = taxonomy_document(store, ds["id"], res.version)
                else:
                    t.detail.update(version=doc["version"], reused=True)

            # 3. annotate both domains (resumable; cached answers make a re-run cheap)
            for domain in (cfg.source, cfg.target):
                with stage(f"annotate {domain}") as t:
                    a = DEMO_ANNOTATION
                    acfg = AnnotateConfig(
                        domain=domain, batch_size=cfg.batch_size, max_description_chars=a["max_description_chars"],
                        max_labels_per_category=a["max_labels_per_category"], method="score",
                        sampling=SamplingConfig(seed=cfg.seed),
                    )  # fmt: skip
                    tax = sem.get_taxonomy(store, ds["id"], doc["version"])
                    todo, done = sem.items_to_annotate(store, store.domain(ds["id"], domain)["id"], tax["id"])
                    if done and not todo:  # a finished domain: no need to load the LLM at all
                        t.detail.update(in_scope=done, skipped=done, done=0, reused=True)
                        continue
                    with progress() as bar:
                        summary = annotate_domain(store, ds["id"], llm(), acfg, bar)
                    t.detail.update({k: getattr(summary, k) for k in
                                     ("in_scope", "skipped", "done", "failed", "filtered", "items_per_s",
                                      "output_tokens_per_s", "labels_per_item", "described")})  # fmt: skip
                    t.detail["guard"] = summary.guard
            if backend is not None:
                backend.close()
                backend = None

            # 4. embed both domains (unchanged texts are skipped)
            for domain in (cfg.source, cfg.target):
                with stage(f"embed {domain}") as t:
                    with progress() as bar:
                        es = embed_domain(store, ds["id"], EmbedConfig(domain=domain), bar)
                    t.detail.update(_public(es))

            # 5. train and evaluate the baseline and SemaCDR in the same harness
            from trainer import api as trainer

            runs: dict[str, list[int]] = {}
            metrics: dict[str, dict] = {}
            epochs = cfg.epochs or size["epochs"]
            for spec in cfg.models:
                model, _, ablation = spec.partition(":")
                with stage(f"train {spec}") as t:
                    group = trainer.train(
                        store, source=cfg.source, target=cfg.target, model=model, seed=cfg.seed,
                        ablation=[ablation] if ablation else None, epochs=epochs, repeat=cfg.seeds,
                        dataset=cfg.dataset, runs_dir=out / "runs", device="cpu", jobs=cfg.jobs,
                    )  # fmt: skip
                    runs[spec] = [r["id"] for r in group]
                    t.detail["runs"] = runs[spec]
                with stage(f"eval {spec}") as t:
                    metrics[spec] = trainer.evaluate(store, group[0])  # the group's mean and std
                    t.detail.update(sampled=metrics[spec]["sampled"], full=metrics[spec]["full"])

            # 6. the report: tables and plots
            with stage("report") as t:
                from semacdr_cli.report.build import build_report

                run_ids = [i for ids in runs.values() for i in ids]
                rep = build_report(store, run_ids, out / "report", dataset=cfg.dataset, seed=cfg.seed)
                t.detail.update(report=str(rep.report), figures=len(rep.figures))
    finally:
        if backend is not None:
            backend.close()

    result = DemoResult(stages=stages, runs=runs, metrics=metrics, report=str(rep.report))
    (out / "pipeline.json").write_text(json.dumps({"config": _config_dict(cfg), **result.as_dict()}, indent=2,
                                                  default=str))  # fmt: skip
    return result


class _Timer:
    def __init__(self, name: str, sink: list[StageTiming]):
        self.timing = StageTiming(name, 0.0)
        self.detail = self.timing.detail
        self.sink = sink

    def __enter__(self) -> Self:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.timing.seconds = round(time.perf_counter() - self.t0, 2)
        if exc_type is None:
            self.sink.append(self.timing)


def _latest_taxonomy(store: Store, dataset_id: int, taxonomy_document) -> dict | None:
    if not taxonomy_versions(store, dataset_id):
        return None
    return taxonomy_document(store, dataset_id, None)


def _public(obj) -> dict[str, Any]:
    d = asdict(obj) if hasattr(obj, "__dataclass_fields__") else dict(obj)
    return {k: v for k, v in d.items() if isinstance(v, int | float | str | bool)}


def _config_dict(cfg: DemoConfig) -> dict[str, Any]:
    d = asdict(cfg)
    d["out"] = str(cfg.out)
    return d
