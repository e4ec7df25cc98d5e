"""The report's figures as matplotlib PNGs, drawn from plain arrays and dicts.

Nothing here reads the store or a run folder, so each function works on any dataset (and in
tests on synthetic inputs). matplotlib and scikit-learn are imported inside the functions; the
figures are drawn on the Agg canvas directly (no pyplot global state, no display needed).

Every function writes one PNG and returns a small dict of what it drew (``path`` plus figures
worth quoting in the report). Inputs with nothing to draw raise `PlotInputError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

DPI = 110
SOURCE_COLOR = "#1f77b4"
TARGET_COLOR = "#ff7f0e"
EXTRA_COLORS = ["#2ca02c", "#d62728", "#9467bd", "#8c564b"]


class PlotInputError(ValueError):
    """The inputs hold nothing to draw (the report turns this into a note)."""


# -- shared helpers ---------------------------------------------------------------------------------
def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=DPI, facecolor="white")
    return out


def _colors(n: int) -> list[str]:
    base = [SOURCE_COLOR, TARGET_COLOR, *EXTRA_COLORS]
    return [base[i % len(base)] for i in range(n)]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


# -- training curves --------------------------------------------------------------------------------
def curve_series(history: Sequence[Mapping], metric: str = "ndcg@10") -> dict:
    """Pull epochs, loss series and the validation metric out of per-epoch records.

    Accepts the trainer's JSON lines in their likely shapes: ``loss`` as a number or a dict of
    parts, further ``loss_*`` numbers or a ``losses``/``loss_parts`` dict as parts, and the
    validation metric as ``valid: {metric: x}`` or a flat ``valid_<metric>`` / ``valid/<metric>``.
    """
    epochs: list[float] = []
    losses: dict[str, list[tuple[float, float]]] = {}
    valid: list[tuple[float, float]] = []
    for i, rec in enumerate(history):
        if not isinstance(rec, Mapping):
            continue
        epoch = _number(rec.get("epoch"))
        epoch = float(i + 1) if epoch is None else epoch
        epochs.append(epoch)
        for key, value in rec.items():
            if key == "loss" and isinstance(value, Mapping):
                for part, v in value.items():
                    name = "loss" if part in ("total", "loss") else f"loss:{part}"
                    if (x := _number(v)) is not None:
                        losses.setdefault(name, []).append((epoch, x))
            elif key in ("losses", "loss_parts") and isinstance(value, Mapping):
                for part, v in value.items():
                    if (x := _number(v)) is not None:
                        losses.setdefault(f"loss:{part}", []).append((epoch, x))
            elif (key == "loss" or key.startswith("loss_") or key.endswith("_loss")) and (
                x := _number(value)
            ) is not None:
                losses.setdefault(key, []).append((epoch, x))
        v = None
        block = rec.get("valid")
        if isinstance(block, Mapping):
            v = _number(block.get(metric))
            if v is None and isinstance(block.get("sampled"), Mapping):
                v = _number(block["sampled"].get(metric))
        for key in (f"valid_{metric}", f"valid/{metric}", f"val_{metric}"):
            if v is None:
                v = _number(rec.get(key))
        if v is not None:
            valid.append((epoch, v))
    return {"epochs": epochs, "losses": losses, "valid": valid, "metric": metric}


def training_curves(
    history: Sequence[Mapping], out: str | Path, *, title: str = "Training", metric: str = "ndcg@10"
) -> dict:
    """Two panels: the training loss (and its parts) and the validation metric per epoch, the best
    epoch marked."""
    s = curve_series(history, metric)
    if not s["losses"] and not s["valid"]:
        raise PlotInputError(f"no loss or validation {metric} in {len(history)} epoch record(s)")
    fig = _figure(11, 4.2)
    ax_loss, ax_val = fig.subplots(1, 2)
    names = sorted(s["losses"], key=lambda n: (n != "loss", n))
    for name, color in zip(names, _colors(len(names)), strict=True):
        pts = s["losses"][name]
        ax_loss.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            marker="o" if len(pts) < 30 else None,
            ms=3,
            lw=2.2 if name == "loss" else 1.2,
            ls="-" if name == "loss" else "--",
            color=color,
            label=name.replace("loss:", "") if name != "loss" else "total loss",
        )
    ax_loss.set_title("Training loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.grid(alpha=0.3)
    if names:
        ax_loss.legend(fontsize=8)
    else:
        ax_loss.text(0.5, 0.5, "no loss recorded", ha="center", va="center", transform=ax_loss.transAxes)
    best = None
    if s["valid"]:
        xs = [p[0] for p in s["valid"]]
        ys = [p[1] for p in s["valid"]]
        ax_val.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, color=TARGET_COLOR, lw=2)
        i = max(range(len(ys)), key=ys.__getitem__)
        best = {"epoch": xs[i], metric: ys[i]}
        ax_val.axvline(xs[i], color="grey", ls=":", lw=1)
        right = len(xs) > 1 and i >= len(xs) / 2
        ax_val.annotate(
            f"best {ys[i]:.4f}\n(epoch {xs[i]:g})",
            (xs[i], ys[i]),
            textcoords="offset points",
            xytext=(-6 if right else 6, -24),
            ha="right" if right else "left",
            fontsize=8,
        )
    else:
        ax_val.text(
            0.5, 0.5, f"no validation {metric} recorded", ha="center", va="center", transform=ax_val.transAxes
        )
    ax_val.set_title(f"Validation {metric.upper()}")
    ax_val.set_xlabel("epoch")
    ax_val.set_ylabel(metric.upper())
    ax_val.grid(alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_val):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title, fontsize=12)
    return {"path": _save(fig, out), "epochs": len(s["epochs"]), "best": best}


# -- Figure 3: t-SNE of item representations ------------------------------------------------------
def _subsample(domains, max_points: int, rng) -> Any:
    """Indices of at most ``max_points`` items, shared evenly between domains (seeded)."""
    import numpy as np

    labels = list(dict.fromkeys(domains.tolist()))
    per = max(1, max_points // max(1, len(labels)))
    pools = {lab: np.flatnonzero(domains == lab) for lab in labels}
    take = {lab: min(per, len(p)) for lab, p in pools.items()}
    spare = max_points - sum(take.values())
    for lab in labels:  # give the room a small domain leaves to the others
        extra = min(spare, len(pools[lab]) - take[lab])
        take[lab] += extra
        spare -= extra
    idx = [rng.choice(pools[lab], size=take[lab], replace=False) for lab in labels]
    return np.sort(np.concatenate(idx))


def domain_mixing(vectors, domains, k: int = 10) -> float:
    """How mixed two (or more) domains are among each point's ``k`` nearest neighbours, in the
    representation space: the mean share of neighbours from another domain, divided by the share
    expected if domain labels were random. 0 = separate clusters, about 1 = fully mixed."""
    import numpy as np
    from sklearn.neighbors import NearestNeighbors

    n = len(domains)
    if n < 3:
        return float("nan")
    k = min(k, n - 1)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(vectors)
    _, ind = nn.kneighbors(vectors)
    neigh = domains[ind[:, 1:]]
    other = (neigh != domains[:, None]).mean(axis=1)
    counts = {lab: int((domains == lab).sum()) for lab in set(domains.tolist())}
    expected = np.array([(n - counts[d]) / (n - 1) for d in domains.tolist()])
    ok = expected > 0
    if not ok.any():
        return float("nan")
    return float(other[ok].mean() / expected[ok].mean())


def tsne_panels(
    without: tuple[Any, Sequence],
    with_agnostic: tuple[Any, Sequence],
    out: str | Path,
    *,
    domain_order: Sequence[str] | None = None,
    max_points: int = 3000,
    seed: int = 0,
    threads: int | None = 1,
    title: str = "Item representations after the graph module (t-SNE)",
) -> dict:
    """The paper's Figure 3: t-SNE of item vectors coloured by domain, two panels, without and with
    domain-agnostic semantics. Each input is ``(vectors [n, d], domain label per row)``. At most
    ``max_points`` items are drawn (seeded, shared between domains); when both inputs have the same
    rows the same items are drawn in both panels. Each panel quotes `domain_mixing` (k = 10) computed
    in the original space on the drawn items. ``threads`` caps OpenMP threads of the t-SNE gradient
    (None: all): its threads spin-wait, and on a shared, loaded CPU one thread is many times faster."""
    import numpy as np
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    prepared = []
    for name, (vecs, doms) in (("without", without), ("with", with_agnostic)):
        vecs = np.asarray(vecs, dtype=np.float32)
        doms = np.asarray([str(d) for d in doms])
        if vecs.ndim != 2 or len(vecs) != len(doms):
            raise PlotInputError(f"{name}: expected vectors [n, d] and n domain labels, got {vecs.shape}")
        if len(vecs) < 5:
            raise PlotInputError(f"{name}: {len(vecs)} item vectors are too few for t-SNE")
        prepared.append((vecs, doms))
    same_rows = len(prepared[0][1]) == len(prepared[1][1]) and (prepared[0][1] == prepared[1][1]).all()
    shared_idx = _subsample(prepared[0][1], max_points, rng) if same_rows else None
    order = list(domain_order or [])
    for _, doms in prepared:
        order += [d for d in dict.fromkeys(doms.tolist()) if d not in order]
    colors = dict(zip(order, _colors(len(order)), strict=True))

    fig = _figure(12, 5.8)
    axes = fig.subplots(1, 2)
    mixing = {}
    drawn = 0
    for ax, (vecs, doms), label in zip(
        axes, prepared, ("without domain-agnostic semantics", "with domain-agnostic semantics"), strict=True
    ):
        idx = shared_idx if shared_idx is not None else _subsample(doms, max_points, rng)
        x, d = vecs[idx], doms[idx]
        drawn = max(drawn, len(idx))
        perplexity = float(min(30.0, max(2.0, (len(idx) - 1) / 3.5)))
        with threadpool_limits(limits=threads):
            xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
        key = "without" if label.startswith("without") else "with"
        mixing[key] = domain_mixing(x, d)
        for dom in order:
            m = d == dom
            if m.any():
                ax.scatter(
                    xy[m, 0],
                    xy[m, 1],
                    s=5,
                    alpha=0.55,
                    color=colors[dom],
                    label=f"{dom} ({m.sum()})",
                    linewidths=0,
                )
        ax.set_title(f"{label}\nkNN domain mixing {mixing[key]:.2f} (0 separate, 1 mixed)", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("t-SNE 1")
        ax.set_ylabel("t-SNE 2")
        ax.legend(markerscale=3, fontsize=8, loc="best")
    fig.suptitle(title, fontsize=12)
    return {"path": _save(fig, out), "points": drawn, "mixing": mixing}


# -- Figure 4: one user's domain-agnostic labels per domain ----------------------------------------
def _cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    keys = set(a) | set(b)
    dot = sum(a.get(k, 0) * b.get(k, 0) for k in keys)
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else float("nan")


def user_label_histograms(
    counts: Mapping[str, Mapping[str, int]],
    out: str | Path,
    *,
    items: Mapping[str, int] | None = None,
    title: str = "Domain-agnostic labels of one user's items",
    level: str = "category",
    top: int = 25,
) -> dict:
    """The paper's Figure 4: for each domain (side by side, same label axis) the share of the user's
    annotated items carrying each label. ``counts`` is ``{domain: {label: n_items}}`` in panel order;
    ``items`` the user's annotated items per domain (the denominator; default: the largest count).
    The ``top`` labels by total share are drawn. Returns the cosine similarity of the two domains'
    label distributions over all labels."""
    domains = [d for d in counts if counts[d]]
    if not domains:
        raise PlotInputError("the user has no labelled item in any domain")
    denom = {d: (items or {}).get(d) or max(counts[d].values()) for d in counts}
    share = {d: {k: v / denom[d] for k, v in counts[d].items()} for d in counts}
    labels = sorted(
        {k for d in counts for k in counts[d]}, key=lambda k: (-sum(share[d].get(k, 0) for d in counts), k)
    )
    shown = labels[:top]
    fig = _figure(4.2 * len(counts) + 2.5, max(3.2, 0.28 * len(shown) + 1.6))
    axes = fig.subplots(1, len(counts), sharey=True, sharex=True, squeeze=False)[0]
    ypos = list(range(len(shown)))
    for ax, dom, color in zip(axes, counts, _colors(len(counts)), strict=True):
        vals = [share[dom].get(k, 0.0) for k in shown]
        ax.barh(ypos, vals, color=color, alpha=0.85)
        for y, k in zip(ypos, shown, strict=True):
            n = counts[dom].get(k, 0)
            if n:
                ax.text(share[dom][k], y, f" {n}", va="center", fontsize=7)
        ax.set_title(f"{dom} ({denom[dom]} annotated items)", fontsize=10)
        ax.set_xlabel("share of the user's items in this domain")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(ypos, [k if len(k) <= 42 else k[:40] + "…" for k in shown], fontsize=8)
    axes[0].invert_yaxis()
    axes[0].set_ylabel(level)
    similarity = _cosine(share[domains[0]], share[domains[-1]]) if len(counts) >= 2 else float("nan")
    more = f", top {len(shown)} of {len(labels)}" if len(labels) > len(shown) else ""
    fig.suptitle(f"{title}\n{level} distribution cosine similarity {similarity:.2f}{more}", fontsize=11)
    return {"path": _save(fig, out), "labels": len(labels), "similarity": similarity}


# -- category coverage ------------------------------------------------------------------------------
def category_coverage(
    rows: Iterable[Mapping],
    out: str | Path,
    *,
    taxonomy: Sequence[Mapping] | None = None,
    domains: Sequence[str] | None = None,
    items: Mapping[str, int] | None = None,
    title: str = "Items per subcategory and domain",
) -> dict:
    """Grouped horizontal bars: items per subcategory, one bar per domain, one facet per category.
    ``rows`` are ``{domain, category, subcategory, items}``; ``taxonomy`` (``[{name, subcategories}]``)
    fixes the order and shows subcategories no item carries (zero bars). ``items`` (annotated items per
    domain) goes into the legend."""
    counts: dict[tuple[str, str, str], int] = {}
    for r in rows:
        counts[(r["category"], r["subcategory"], r["domain"])] = int(r["items"])
    if taxonomy:
        cats = [(c["name"], list(c["subcategories"])) for c in taxonomy]
    else:
        cats_d: dict[str, list[str]] = {}
        for c, s, _ in counts:
            cats_d.setdefault(c, [])
            if s not in cats_d[c]:
                cats_d[c].append(s)
        cats = sorted(cats_d.items())
    cats = [(c, subs) for c, subs in cats if subs]
    doms = list(domains or [])
    doms += [d for d in dict.fromkeys(k[2] for k in counts) if d not in doms]
    if not cats or not doms or not counts:
        raise PlotInputError("no labelled item to count")
    ncols = 1 if len(cats) <= 3 else 2
    nrows = math.ceil(len(cats) / ncols)
    row_sizes = [max(len(subs) for _, subs in cats[r * ncols : (r + 1) * ncols]) for r in range(nrows)]
    height = sum(0.22 * n * len(doms) + 0.9 for n in row_sizes) + 0.8
    fig = _figure(7.0 * ncols, min(height, 60))
    grid = fig.add_gridspec(nrows, ncols, height_ratios=row_sizes)
    colors = _colors(len(doms))
    bar = 0.8 / len(doms)
    xmax = max(counts.values())
    for i, (cat, subs) in enumerate(cats):
        ax = fig.add_subplot(grid[i // ncols, i % ncols])
        for j, (dom, color) in enumerate(zip(doms, colors, strict=True)):
            ys = [k + j * bar - 0.4 + bar / 2 for k in range(len(subs))]
            vals = [counts.get((cat, s, dom), 0) for s in subs]
            n = (items or {}).get(dom)
            ax.barh(ys, vals, height=bar, color=color, label=f"{dom}" + (f" ({n} items)" if n else ""))
        ax.set_yticks(range(len(subs)), [s if len(s) <= 34 else s[:32] + "…" for s in subs], fontsize=8)
        ax.set_ylim(len(subs) - 0.5, -0.5)
        ax.set_xlim(0, xmax * 1.05)
        ax.set_title(cat, fontsize=10)
        ax.set_xlabel("items")
        ax.grid(axis="x", alpha=0.3)
        if i == 0:
            handles, labels = ax.get_legend_handles_labels()
    fig.suptitle(title, fontsize=12)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(doms), fontsize=9)
    return {"path": _save(fig, out), "categories": len(cats), "subcategories": sum(len(s) for _, s in cats)}
