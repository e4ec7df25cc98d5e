"""The markdown pieces of the report: escaping, tables, and the taxonomy, results and figure
sections. Text from data or an LLM is escaped here, so it cannot inject links, HTML or cells."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Sequence
from typing import Any

METRICS = ("hr@5", "hr@10", "ndcg@5", "ndcg@10")
PROTOCOLS = ("sampled", "full")

# -- markdown helpers -------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md(text: Any) -> str:
    """Untrusted text as inert markdown: one line, special characters escaped."""
    s = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", s)


def code(text: Any) -> str:
    """Untrusted text as one inline code span (no backtick can close it early)."""
    return "`" + " ".join(str(text).replace("`", "'").split()) + "`"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(x: Any, digits: int = 4) -> str:
    if isinstance(x, float):
        return "–" if math.isnan(x) else f"{x:.{digits}f}"
    return "–" if x is None else str(x)


# -- run folders ------------------------------------------------------------------------------------


def _taxonomy_section(tax: dict | None) -> str:
    if tax is None:
        return "## Taxonomy\n\nThe dataset has no taxonomy yet (`semacdr taxonomy induce`).\n"
    params = tax.get("params")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            pass
    if isinstance(params, dict) and "config" in params:
        params = params["config"]  # not the induction stats: every answer of every step is in there
    lines = [
        f"## Taxonomy (version {tax['version']})",
        "",
        f"{len(tax['categories'])} domain-agnostic categories, "
        f"{sum(len(c['subcategories']) for c in tax['categories'])} subcategories; origin "
        f"{code(tax['origin'])}, model {code(tax.get('model') or '–')}, backend "
        f"{code(tax.get('backend') or '–')}, created {md(tax['created_at'])}"
        + (f", parameters {code(params)}" if params else "")
        + ".",
        "",
    ]
    if tax["origin"] == "fallback":
        warning = (
            "**Warning: this taxonomy is the fixed generic seed list (`--allow-fallback`), not induced "
            "from the items; labels against it say little about them.**"
        )
        lines += [warning, ""]
    for c in tax["categories"]:
        desc = f": {md(c['description'])}" if c.get("description") else ""
        subs = ", ".join(md(s) for s in c["subcategories"]) or "(no subcategory)"
        lines.append(f"- **{md(c['name'])}**{desc} — {subs}")
    return "\n".join(lines) + "\n"


def _direction(run: dict) -> str:
    src = run.get("source_domain")
    return f"{src} → {run['target_domain']}" if src else f"{run['target_domain']} only"


def _summary_section(results: list[dict]) -> str:
    """The report's first table: each setting (model, direction, ablation) with its runs' mean ±
    sample standard deviation (n - 1) over seeds, sampled and full-ranking HR@10 / NDCG@10."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        if r["metrics"]:
            groups.setdefault((r["model"], r["direction"], r["ablation"] or "–"), []).append(r)
    if not groups:
        return ""
    keys = [(p, k) for p in PROTOCOLS for k in ("hr@10", "ndcg@10")]
    rows = []
    for (model, direction, ablation), runs in groups.items():
        cells = []
        for p, k in keys:
            vals = [v for r in runs if (v := _number((r["metrics"].get(p) or {}).get(k))) is not None]
            if not vals:
                cells.append("–")
            elif len(vals) == 1:
                cells.append(f"{vals[0]:.4f}")
            else:
                cells.append(f"{statistics.mean(vals):.4f} ± {statistics.stdev(vals):.4f}")
        rows.append(
            [md(model), md(direction), md(ablation), len(runs)] + cells + [md(_stopping_summary(runs))]
        )
    header = (
        ["Model", "Direction", "Ablation", "Seeds"] + [f"{p} {k.upper()}" for p, k in keys] + ["Stopping"]
    )
    return "\n".join(
        [
            "## Summary",
            "",
            "Test split, mean ± standard deviation (sample, n − 1) over each setting's seeds. *sampled*: the "
            "held-out item against 100 sampled negatives (the paper's protocol); *full*: against every "
            "target item. Every run is in the per-run table under Results.",
            "",
            table(header, rows),
            "",
        ]
    )


def _stopping_summary(runs: list[dict]) -> str:
    """How a setting's runs ended, e.g. "3 converged (epochs 95, 110, 105)" or "2 converged, 1 hit cap (...)"."""
    counts: dict[str, int] = {}
    epochs = []
    for r in runs:
        label, _, rest = str(r.get("stopping", "–")).partition(" (")
        counts[label] = counts.get(label, 0) + 1
        if rest:
            epochs.append(rest.rstrip(")"))
    text = ", ".join(f"{n} {label}" for label, n in counts.items())
    return text + (f" (epochs {', '.join(epochs)})" if epochs else "")


def _results_section(results: list[dict]) -> str:
    header = ["Run", "Model", "Direction", "Ablation", "Seed", "Status", "Stopping (epochs)", "Best epoch"]
    header += [f"{p} {m.upper()}" for p in PROTOCOLS for m in METRICS]
    rows = []
    for r in results:
        m = r["metrics"] or {}
        rows.append(
            [
                r["id"],
                md(r["model"]),
                md(r["direction"]),
                md(r["ablation"] or "–"),
                r["seed"],
                md(r["status"]),
                md(r.get("stopping", "–")),
                _fmt(r["best_epoch"]),
            ]
            + [_fmt(_number((m.get(p) or {}).get(k))) for p in PROTOCOLS for k in METRICS]
        )
    lines = [
        "## Results",
        "",
        (
            "Test split, one row per run. *sampled*: the paper's protocol, the held-out item ranked against 100 "
            "negatives sampled uniformly from target items the user never interacted with; *full*: ranked "
            "against every target item. The two protocols can disagree (Krichene & Rendle, KDD 2020)."
        ),
        "",
        table(header, rows),
        "",
    ]
    return "\n".join(lines)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v)


def _figure_block(title: str, rel: str, caption: str) -> str:
    return f"![{md(title)}]({rel})\n\n{caption}\n"


# -- Figure 3 input ---------------------------------------------------------------------------------
