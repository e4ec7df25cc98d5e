"""docs/results.md's figure: every seed of every row, sampled against full ranking (issue 13).

The tables give mean ± std; this shows the runs behind them, one dot per seed, so a reader sees at a
glance where the sampled protocol and the full ranking disagree. Drawn from the results file's
current runs only (the same ones the tables hold), on the Agg canvas (no display needed).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path

from paper_table_docs import directions_of

PANELS = (
    ("sampled", "ndcg@10", "sampled NDCG@10 (100 negatives)"),
    ("full", "ndcg@10", "full-ranking NDCG@10"),
)
BASELINE_COLOR, PLAIN_COLOR, SEMANTIC_COLOR = "#7f7f7f", "#1f77b4", "#ff7f0e"


def seed_plot(
    runs: list[dict], rows, baselines: Sequence[str], semantic_rows: set[str], out: str | Path
) -> dict:
    """One panel per (direction, protocol): a dot per seed, a bar at each row's mean, and a dashed
    line at the best baseline's mean. Returns what it drew: ``path``, ``points`` (runs drawn) and the rows shown
    per direction (top to bottom)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    directions = directions_of(runs)
    if not directions:
        raise ValueError("no runs to draw")
    shown = {
        d: [(k, lab) for k, lab, *_ in rows if any(r["row"] == k and r["direction"] == d for r in runs)]
        for d in directions
    }
    height = 1.2 + 0.32 * sum(len(v) for v in shown.values())
    fig = Figure(figsize=(11, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(
        len(directions),
        len(PANELS),
        squeeze=False,
        gridspec_kw={"height_ratios": [max(len(shown[d]), 1) for d in directions]},
    )
    color = {k: BASELINE_COLOR if k in baselines else SEMANTIC_COLOR if k in semantic_rows else PLAIN_COLOR
             for k, *_ in rows}  # fmt: skip
    for i, d in enumerate(directions):
        src, tgt = (s.title() for s in d.split(":"))
        labels = shown[d]
        for j, (protocol, metric, title) in enumerate(PANELS):
            ax = axes[i][j]
            best = None
            for y, (key, _) in enumerate(labels):
                vals = [r[protocol][metric] for r in runs if r["row"] == key and r["direction"] == d]
                ax.scatter(vals, [y] * len(vals), s=22, color=color[key], alpha=0.75, zorder=3)
                ax.plot(
                    [statistics.fmean(vals)] * 2,
                    [y - 0.3, y + 0.3],
                    color=color[key],
                    linewidth=2.2,
                    zorder=2,
                )
                if key in baselines:
                    best = max(best or 0.0, statistics.fmean(vals))
            if best is not None:
                ax.axvline(best, color=BASELINE_COLOR, linestyle="--", linewidth=1)
            ax.set_yticks(range(len(labels)), [lab for _, lab in labels] if j == 0 else [""] * len(labels))
            ax.set_ylim(len(labels) - 0.5, -0.5)
            ax.grid(axis="x", alpha=0.3)
            ax.set_title(f"{src} → {tgt}: {title}", fontsize=10)
    fig.suptitle("Food–Kitchen: one dot per seed, bar = mean, dashed = best baseline's mean", fontsize=11)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", facecolor="white")
    points = sum(1 for r in runs if r["row"] in color)  # a run is one dot in each panel
    return {"path": str(out), "points": points, "rows": {d: [k for k, _ in v] for d, v in shown.items()}}
