"""Each plot function writes a real, non-trivial PNG from synthetic arrays and dicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semacdr_cli.report import plots


def assert_real_png(path: Path, min_bytes: int = 5000) -> np.ndarray:
    from matplotlib.image import imread

    assert path.is_file()
    assert path.stat().st_size > min_bytes
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 300
    assert float(img[..., :3].std()) > 0.01, "the image is a single flat colour"
    return img


def test_training_curves_png_marks_the_best_validation_epoch(tmp_path):
    rng = np.random.default_rng(1)
    valid = rng.uniform(0.05, 0.3, size=12)
    history = [
        {
            "epoch": e,
            "loss": 3.0 / e,
            "loss_rec": 2.0 / e,
            "loss_cl": 1.0 / e,
            "valid": {"ndcg@10": float(v)},
            "seconds": 1.5,
        }
        for e, v in zip(range(1, 13), valid, strict=True)
    ]
    drawn = plots.training_curves(history, tmp_path / "c.png", title="run 7")
    assert_real_png(drawn["path"])
    assert drawn["epochs"] == 12
    assert drawn["best"]["epoch"] == int(np.argmax(valid)) + 1
    assert drawn["best"]["ndcg@10"] == pytest.approx(valid.max())


def test_curve_series_reads_loss_part_dicts_and_flat_valid_keys():
    history = [
        {"epoch": 1, "loss": {"total": 2.0, "rec": 1.5, "cl": 0.5}, "valid_ndcg@10": 0.1},
        {"epoch": 2, "loss": 1.0, "losses": {"rec": 0.8}, "valid/ndcg@10": 0.2},
        {"epoch": 3, "loss": 0.5, "valid": {"sampled": {"ndcg@10": 0.3}}},
    ]
    s = plots.curve_series(history)
    assert [v for _, v in s["losses"]["loss"]] == [2.0, 1.0, 0.5]
    assert [v for _, v in s["losses"]["loss:rec"]] == [1.5, 0.8]
    assert [v for _, v in s["valid"]] == [0.1, 0.2, 0.3]


def test_training_curves_without_loss_or_validation_raise_plot_input_error(tmp_path):
    with pytest.raises(plots.PlotInputError):
        plots.training_curves([{"epoch": 1, "seconds": 3.0}], tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()


def _two_domains(rng, n_src, n_tgt, shift):
    x = np.r_[rng.normal(0, 1, (n_src, 16)), rng.normal(shift, 1, (n_tgt, 16))]
    return x, ["kitchen"] * n_src + ["food"] * n_tgt


def test_tsne_panels_png_and_mixing_is_higher_when_domains_overlap(tmp_path):
    rng = np.random.default_rng(0)
    apart = _two_domains(rng, 90, 70, shift=6.0)
    together = _two_domains(rng, 90, 70, shift=0.0)
    drawn = plots.tsne_panels(
        apart, together, tmp_path / "t.png", domain_order=["kitchen", "food"], max_points=120, seed=3
    )
    assert_real_png(drawn["path"])
    assert drawn["points"] == 120
    assert drawn["mixing"]["without"] < 0.2
    assert drawn["mixing"]["with"] > 0.7


def test_subsample_is_seeded_capped_and_shared_between_domains():
    doms = np.array(["a"] * 500 + ["b"] * 30)
    one = plots._subsample(doms, 100, np.random.default_rng(5))
    two = plots._subsample(doms, 100, np.random.default_rng(5))
    assert len(one) == 100 and (one == two).all()
    assert (doms[one] == "b").sum() == 30  # the small domain is kept whole, the rest fills up


def test_domain_mixing_separates_clusters_from_shuffled_labels():
    rng = np.random.default_rng(2)
    x, d = _two_domains(rng, 100, 100, shift=10.0)
    d = np.array(d)
    assert plots.domain_mixing(x, d) < 0.05
    assert plots.domain_mixing(x, rng.permutation(d)) > 0.8


def test_user_label_histograms_png_and_identical_domains_have_similarity_one(tmp_path):
    counts = {
        "kitchen": {"Style / Modern": 4, "Use / Cooking": 2},
        "food": {"Style / Modern": 8, "Use / Cooking": 4},
    }
    drawn = plots.user_label_histograms(counts, tmp_path / "u.png", items={"kitchen": 5, "food": 10})
    assert_real_png(drawn["path"])
    assert drawn["similarity"] == pytest.approx(1.0)
    other = plots.user_label_histograms({"kitchen": {"A": 3}, "food": {"B": 3}}, tmp_path / "v.png")
    assert other["similarity"] == pytest.approx(0.0)


def test_user_label_histograms_with_no_labels_raise(tmp_path):
    with pytest.raises(plots.PlotInputError):
        plots.user_label_histograms({"kitchen": {}, "food": {}}, tmp_path / "u.png")


def test_category_coverage_png_keeps_unused_subcategories_of_the_taxonomy(tmp_path):
    rng = np.random.default_rng(4)
    taxonomy = [
        {"name": f"Cat {c}", "subcategories": [f"sub {c}.{s}" for s in range(3 + c)]} for c in range(5)
    ]
    rows = [
        {"domain": d, "category": t["name"], "subcategory": s, "items": int(rng.integers(1, 40))}
        for t in taxonomy
        for s in t["subcategories"][1:]
        for d in ("kitchen", "food")
    ]
    drawn = plots.category_coverage(
        rows,
        tmp_path / "cov.png",
        taxonomy=taxonomy,
        domains=["kitchen", "food"],
        items={"kitchen": 100, "food": 90},
    )
    assert_real_png(drawn["path"])
    assert drawn["categories"] == 5
    assert drawn["subcategories"] == sum(len(t["subcategories"]) for t in taxonomy)


def test_category_coverage_with_no_rows_raises(tmp_path):
    with pytest.raises(plots.PlotInputError):
        plots.category_coverage([], tmp_path / "cov.png")
