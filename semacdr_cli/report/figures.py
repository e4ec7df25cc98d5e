"""The report's figures beyond the training curves: Figure 3 (t-SNE of item representations with and
without the domain-agnostic view), Figure 4 (one user's label histograms in each domain) and the
category coverage with the degeneracy guard. Each section appends what it drew to ``figures``, what
it could not draw to ``notes`` and its data to ``data``, and returns its markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semacdr_cli.report.markdown import _figure_block, _fmt, code, md
from semacdr_cli.store import Store
from semacdr_cli.store import report_queries as q

NO_AGNOSTIC = "no-agnostic-semantics"  # the trainer's ablation that drops the domain-agnostic view


def representations(store, run_id: int, with_agnostic: bool) -> tuple[Any, list[str]]:
    """Item vectors after the graph module and their domains, from the trainer's public API."""
    from trainer.api import item_representations  # heavy (torch); only when the figure is drawn

    res = item_representations(store, run_id, with_agnostic=with_agnostic)
    if isinstance(res, dict):
        vecs = next((res[k] for k in ("vectors", "representations", "embeddings") if k in res), None)
        doms = next((res[k] for k in ("domains", "domain") if k in res), None)
    elif isinstance(res, tuple | list) and len(res) >= 2:
        vecs, doms = res[0], res[1]
    else:
        vecs, doms = getattr(res, "vectors", None), getattr(res, "domains", None)
    if vecs is None or doms is None:
        raise ValueError(f"unexpected result of trainer.api.item_representations: {type(res).__name__}")
    if hasattr(vecs, "detach"):
        vecs = vecs.detach().cpu().numpy()
    return vecs, [str(d) for d in doms]


def figure3(
    store,
    runs: list[dict],
    order: list[str],
    fig_dir: Path,
    figures: list,
    notes: list,
    data: dict,
    tsne_points: int,
    seed: int,
) -> str:
    """Figure 3: item representations after the graph module, with and without the agnostic view."""
    from semacdr_cli.report import plots

    fig3_md = ""
    fig3_run = next((r for r in runs if r["model"] == "semacdr" and not r.get("ablation")), None) or next(
        (r for r in runs if r["model"] == "semacdr"), None
    )
    if fig3_run is None:
        notes.append("figure 3 skipped: no `semacdr` run among the runs reported")
    else:
        # the paper compares two trained models; a `no-agnostic-semantics` run of the same direction
        # among the runs is that second model, otherwise the run's graph module is re-run without
        # the domain-agnostic view
        ablated = next(
            (
                r
                for r in runs
                if r["model"] == "semacdr"
                and r.get("ablation") == NO_AGNOSTIC
                and r.get("source_domain") == fig3_run.get("source_domain")
                and r["target_domain"] == fig3_run["target_domain"]
            ),
            None,
        )
        if fig3_run.get("ablation"):
            ablated = None
        try:
            if ablated is not None:
                without = representations(store, ablated["id"], with_agnostic=True)
            else:
                without = representations(store, fig3_run["id"], with_agnostic=False)
            with_ = representations(store, fig3_run["id"], with_agnostic=True)
            drawn = plots.tsne_panels(
                without,
                with_,
                fig_dir / "fig3_tsne.png",
                domain_order=order[:2],
                max_points=tsne_points,
                seed=seed,
            )
        except (ImportError, AttributeError) as exc:
            notes.append(f"figure 3 skipped: the trainer's item_representations API is not available ({exc})")
        except Exception as exc:
            notes.append(f"figure 3 skipped: {type(exc).__name__}: {exc}")
        else:
            figures.append(drawn["path"])
            how = (
                f"without: run {ablated['id']} (trained with `{NO_AGNOSTIC}`)"
                if ablated
                else "without: the same run's graph module re-run without the domain-agnostic view"
            )
            data["figure3"] = {
                "run": fig3_run["id"],
                "without_run": ablated["id"] if ablated else None,
                "points": drawn["points"],
                "mixing": drawn["mixing"],
            }
            fig3_md = _figure_block(
                "t-SNE of item representations",
                "figures/fig3_tsne.png",
                f"With: run {fig3_run['id']}; {how}. {drawn['points']} items (seed {seed}). kNN domain mixing "
                f"(share of each item's 10 nearest neighbours from the other domain, relative to random "
                f"labels; 0 = separate, 1 = mixed): without {drawn['mixing']['without']:.2f}, with "
                f"{drawn['mixing']['with']:.2f} domain-agnostic semantics.",
            )

    return fig3_md


def figure4_and_coverage(
    store: Store,
    ds: dict,
    tax: dict | None,
    user: str | None,
    order: list[str],
    fig_dir: Path,
    figures: list,
    notes: list,
    data: dict,
) -> tuple[str, str]:
    """Figure 4 (one user's labels per domain) and the category coverage with the label guard."""
    from semacdr_cli.report import plots

    fig4_md = coverage_md = ""
    if user is not None:
        the_user = q.find_user(store, ds["id"], user)  # a bad --user is an error, not a note
    if tax is None:
        notes.append("figure 4 and category coverage skipped: the dataset has no taxonomy")
    else:
        if user is None:
            the_user = q.best_annotated_user(store, ds["id"], tax["id"])
        if the_user is None:
            notes.append("figure 4 skipped: no user has annotated items in every domain")
        else:
            counts = q.user_label_counts(store, the_user["id"], tax["id"])
            panels = [d for d in order if d in counts] or list(counts)
            if len(panels) < 2:
                notes.append(
                    f"figure 4: user {the_user['external_id']} has labelled items in "
                    f"{len(panels)} domain(s) only"
                )
            blocks = []
            for level, key in (("category", "categories"), ("subcategory", "subcategories")):
                per = {
                    d: {
                        (k if isinstance(k, str) else f"{k[0]} / {k[1]}"): n
                        for k, n in counts[d][key].items()
                    }
                    for d in panels
                }
                name = f"fig4_user_{level}.png"
                try:
                    drawn = plots.user_label_histograms(
                        per,
                        fig_dir / name,
                        items={d: counts[d]["items"] for d in panels},
                        level=level,
                        title=f"Domain-agnostic {level} of user {the_user['external_id']}'s items",
                    )
                except plots.PlotInputError as exc:
                    notes.append(f"figure 4 ({level}) skipped: {exc}")
                    continue
                figures.append(drawn["path"])
                data.setdefault("figure4", {"user": the_user["external_id"]})[level] = {
                    "similarity": drawn["similarity"],
                    "labels": drawn["labels"],
                }
                blocks.append(
                    _figure_block(
                        f"user {level} histogram",
                        f"figures/{name}",
                        f"{level.capitalize()} distribution cosine similarity between the domains: "
                        f"{_fmt(drawn['similarity'], 2)}.",
                    )
                )
            if blocks:
                how = (
                    "given with `--user`"
                    if user is not None
                    else ("the user with the most annotated items in both domains")
                )
                fig4_md = f"User {code(the_user['external_id'])} ({how}).\n\n" + "\n".join(blocks)
        rows = q.subcategory_coverage(store, tax["id"])
        per_domain = q.annotated_items_per_domain(store, tax["id"])
        try:
            drawn = plots.category_coverage(
                rows,
                fig_dir / "coverage.png",
                taxonomy=tax["categories"],
                domains=[d for d in order if d in per_domain] or None,
                items=per_domain,
            )
        except plots.PlotInputError as exc:
            notes.append(f"category coverage skipped: {exc}")
        else:
            figures.append(drawn["path"])
            unused = sum(
                1
                for c in tax["categories"]
                for s in c["subcategories"]
                if not any(r["category"] == c["name"] and r["subcategory"] == s for r in rows)
            )
            data["coverage"] = rows
            coverage_md = _figure_block(
                "items per subcategory",
                "figures/coverage.png",
                "Annotated items per domain: "
                + ", ".join(f"{md(d)} {n:,}" for d, n in per_domain.items())
                + f". Subcategories no item carries: {unused}.",
            )

        from semacdr_cli.labels.stats import domain_label_stats, guard_markdown

        guard = [domain_label_stats(store, ds["id"], d) for d in order if d in per_domain]
        data["label_guard"] = guard
        coverage_md += ("\n\n### Do the labels carry information? (the degeneracy guard)\n\n"
                        + guard_markdown(guard, md) + "\n")  # fmt: skip

    return fig4_md, coverage_md
