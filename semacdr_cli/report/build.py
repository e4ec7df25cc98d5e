"""`semacdr report`: one markdown report over a store and some training runs.

`build_report` reads the store (through `semacdr_cli.store.report_queries`) and the run folders,
draws the figures of `semacdr_cli.plots` and writes ``OUT/report.md`` (figures as relative links
under ``OUT/figures/``) plus ``OUT/report.json`` with the same tables. Whatever input is missing (a
run folder, ``metrics.jsonl``, a taxonomy, annotations, the trainer's representation API) becomes a
note in the report instead of a crash; only bad references given by the user (an unknown run or
user, runs of different datasets) are errors.

Text that comes from data or from an LLM (taxonomy names, descriptions) is escaped before it goes
into markdown, so it cannot inject links, HTML or table cells.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semacdr_cli import __version__
from semacdr_cli.errors import SemacdrError
from semacdr_cli.report import figures as report_figures
from semacdr_cli.report.markdown import (
    _direction,
    _figure_block,
    _results_section,
    _summary_section,
    _taxonomy_section,
    code,
    md,
    table,
)
from semacdr_cli.report.runs import (
    read_history,
    resolve_run_dir,
    run_metrics,
)
from semacdr_cli.store import Store, now
from semacdr_cli.store import report_queries as q
from semacdr_cli.store.interactions import domain_stats, overlapped_users
from semacdr_cli.store.training import stopping

Progress = Callable[[str], None]


@dataclass
class ReportResult:
    report: Path
    data: Path
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "report": str(self.report),
            "data": str(self.data),
            "figures": [str(p) for p in self.figures],
            "runs": self.runs,
            "notes": self.notes,
        }


def _dataset_section(store: Store, dataset: dict) -> tuple[str, list[dict], int]:
    stats = [
        {"domain": name, **{k: v for k, v in d.items() if k != "splits"}, **d["splits"]}
        for name, d in domain_stats(store, dataset["id"]).items()
    ]
    overlap = overlapped_users(store, dataset["id"])
    rows = [
        [
            md(s["domain"]),
            f"{s['users']:,}",
            f"{s['items']:,}",
            f"{s['interactions']:,}",
            f"{s['avg_len']:.2f}",
            f"{s['train']:,} / {s['valid']:,} / {s['test']:,}",
            f"{s['annotated']:,}",
            f"{s['failed']:,}",
            f"{s['embedded']:,}",
        ]
        for s in stats
    ]
    header = [
        "Domain",
        "Users",
        "Items",
        "Interactions",
        "Avg. len.",
        "Train / valid / test",
        "Annotated",
        "Failed",
        "Embedded",
    ]
    text = [f"## Dataset {code(dataset['name'])}", ""]
    if dataset.get("synthetic"):
        text += [
            (
                "> **Synthetic data**: this dataset was generated, not observed; its numbers say nothing "
                "about real recommendation quality."
            ),
            "",
        ]
    text += [
        (
            f"Format {code(dataset['format'])}, imported {md(dataset['created_at'])}. "
            f"Users with interactions in every domain: **{overlap:,}**. Avg. len. = interactions per user "
            "of the domain; annotated / failed count items with an annotation of any taxonomy version."
        ),
        "",
        table(header, rows),
        "",
    ]
    return "\n".join(text), stats, overlap


# -- the report -------------------------------------------------------------------------------------
def resolve_run_refs(store: Store, refs: Sequence[str | int]) -> list[int]:
    """Run ids from RUN arguments: a store id, or a run folder registered in the store."""
    ids = []
    for ref in refs:
        s = str(ref)
        if s.isdigit():
            ids.append(int(s))
            continue
        rid = q.run_by_dir(store, s)
        if rid is None and Path(s).exists():
            rid = q.run_by_dir(store, str(Path(s).resolve()))
        if rid is None:
            raise SemacdrError(f"RUN: {s!r} is neither a run id nor a run folder registered in the store")
        ids.append(rid)
    return list(dict.fromkeys(ids))


def _stopping(run: dict) -> str:
    """How training ended, with the epochs run: "converged (85)", "hit cap (300)", or "–" (not recorded)."""
    how = stopping(run)
    return "–" if how is None else f"{how} ({run['metrics']['train'].get('epochs')})"


def build_report(
    store: Store | str | Path,
    run_refs: Sequence[str | int],
    out_dir: str | Path,
    *,
    dataset: str | None = None,
    user: str | None = None,
    tsne_points: int = 2000,
    seed: int = 0,
    progress: Progress | None = None,
) -> ReportResult:
    """Write ``out_dir/report.md``, ``out_dir/report.json`` and ``out_dir/figures/*.png``.

    ``run_refs``: run ids or registered run folders (empty: the most recent run, if any).
    ``user``: the user of Figure 4 (external or store id; default: the one with most annotated
    items in both domains). ``tsne_points``: at most this many items in Figure 3 (seeded by ``seed``).
    ``progress`` is called with the name of each step as it starts.
    ``store``: an open Store (left open) or the path of one.
    """
    from semacdr_cli.report import plots

    step = progress or (lambda _name: None)
    owned = not isinstance(store, Store)
    if owned:
        store = Store(store, create=False)
    db_path = Path(store.path)
    out_dir = Path(out_dir)
    try:
        run_ids = resolve_run_refs(store, run_refs)
        if not run_ids and not dataset and (latest := q.latest_run_id(store)) is not None:
            run_ids = [latest]
        runs = q.runs_by_ids(store, run_ids)
        if len({r["dataset_id"] for r in runs}) > 1:
            names = sorted({r["dataset"] for r in runs})
            raise SemacdrError(
                f"RUN: the runs belong to different datasets ({', '.join(names)}); report one at a time"
            )
        if runs:
            ds = q.dataset_by_id(store, runs[0]["dataset_id"])
            if dataset and dataset != ds["name"]:
                raise SemacdrError(f"--dataset {dataset!r} does not match the runs' dataset {ds['name']!r}")
        else:
            ds = dict(store.dataset(dataset))
        if out_dir.exists() and not out_dir.is_dir():
            raise SemacdrError("--out: exists and is not a folder", path=str(out_dir))
        fig_dir = out_dir / "figures"
        fig_dir.mkdir(parents=True, exist_ok=True)
        notes: list[str] = []
        figures: list[Path] = []
        data: dict[str, Any] = {"generated_at": now(), "semacdr": __version__, "store": str(db_path)}

        step("dataset and taxonomy")
        dataset_md, stats, overlap = _dataset_section(store, ds)
        data["dataset"] = {
            "name": ds["name"],
            "synthetic": bool(ds.get("synthetic")),
            "domains": stats,
            "overlapping_users": overlap,
        }
        tax_id = next((r["taxonomy_id"] for r in runs if r.get("taxonomy_id")), None)
        tax = q.taxonomy_for(store, ds["id"], tax_id)
        data["taxonomy"] = (
            None
            if tax is None
            else {
                "id": tax["id"],
                "version": tax["version"],
                "categories": [
                    {"name": c["name"], "subcategories": c["subcategories"]} for c in tax["categories"]
                ],
            }
        )
        domains = q.domain_names(store, ds["id"])
        order = domains
        if runs and runs[0].get("source_domain"):
            order = [runs[0]["source_domain"], runs[0]["target_domain"]]
            order += [d for d in domains if d not in order]

        # results and training curves, one run at a time
        results = []
        curves_md = []
        for r in runs:
            step(f"run {r['id']}")
            rdir = resolve_run_dir(r.get("run_dir"), db_path)
            if rdir is None:
                notes.append(f"run {r['id']}: run folder {r.get('run_dir')!r} not found; curves skipped")
            metrics, origin = run_metrics(r, rdir, notes)
            results.append(
                {
                    "id": r["id"],
                    "model": r["model"],
                    "direction": _direction(r),
                    "source": r.get("source_domain"),
                    "target": r["target_domain"],
                    "ablation": r.get("ablation"),
                    "seed": r["seed"],
                    "status": r["status"],
                    "best_epoch": r.get("best_epoch"),
                    "metrics": metrics,
                    "metrics_from": origin,
                    "run_dir": r.get("run_dir"),
                    "stopping": _stopping(r),
                }
            )
            history = read_history(rdir, notes, r["id"]) if rdir else []
            if rdir is not None and not history:
                notes.append(f"run {r['id']}: no per-epoch records (metrics.jsonl) in {rdir}; curves skipped")
            if history:
                title = (
                    f"Run {r['id']}: {r['model']} {_direction(r)}"
                    + (f" ({r['ablation']})" if r.get("ablation") else "")
                    + f", seed {r['seed']}"
                )
                try:
                    drawn = plots.training_curves(history, fig_dir / f"curves_run{r['id']}.png", title=title)
                except plots.PlotInputError as exc:
                    notes.append(f"run {r['id']}: training curves skipped ({exc})")
                else:
                    figures.append(drawn["path"])
                    best = drawn["best"]
                    cap = f"Run {r['id']}: {drawn['epochs']} epochs" + (
                        f", best validation NDCG@10 {best['ndcg@10']:.4f} at epoch {best['epoch']:g}."
                        if best
                        else "."
                    )
                    curves_md.append(_figure_block(title, f"figures/{drawn['path'].name}", cap))
        data["results"] = results

        step("figure 3 (t-SNE)")
        fig3_md = report_figures.figure3(store, runs, order, fig_dir, figures, notes, data, tsne_points, seed)
        step("figure 4 and coverage")
        fig4_md, coverage_md = report_figures.figure4_and_coverage(
            store, ds, tax, user, order, fig_dir, figures, notes, data
        )

        step("writing")
        parts = [
            f"# SemaCDR report: {md(ds['name'])}",
            "",
            f"Generated {data['generated_at']} by semacdr {__version__} from the store {code(db_path)}"
            + (f", runs {', '.join(str(i) for i in run_ids)}." if run_ids else ", no training run."),
            "",
            _summary_section(results) if results else "",
            dataset_md,
            _taxonomy_section(tax),
        ]
        if results:
            parts.append(_results_section(results))
        parts += [
            "## Training curves",
            "",
            "\n".join(curves_md) or ("No training curves (see the notes)." if runs else "No run reported."),
            "",
        ]
        parts += [
            "## Figure 3: item representations after the graph module",
            "",
            fig3_md or "Not drawn (see the notes).",
            "",
        ]
        parts += [
            "## Figure 4: one user's domain-agnostic labels in each domain",
            "",
            fig4_md or "Not drawn (see the notes).",
            "",
        ]
        parts += ["## Category coverage", "", coverage_md or "Not drawn (see the notes).", ""]
        if notes:
            parts += ["## Notes", ""] + [f"- {md(n)}" for n in notes] + [""]
        report = out_dir / "report.md"
        report.write_text("\n".join(parts), encoding="utf-8")
        data["figures"] = [str(p.relative_to(out_dir)) for p in figures]
        data["notes"] = notes
        data_path = out_dir / "report.json"
        data_path.write_text(
            json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )
        return ReportResult(report=report, data=data_path, figures=figures, notes=notes, runs=run_ids)
    finally:
        if owned:
            store.close()
