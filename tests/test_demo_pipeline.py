"""`semacdr demo` end to end on the embedded defaults (reduced size): real SmolLM2, real MiniLM,
real SQLite, real training; the report renders and its PNGs are real pictures."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _non_trivial_png(path) -> bool:
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    return path.stat().st_size > 5000 and img.ndim == 3 and float(img[..., :3].std()) > 0.01


def test_demo_runs_the_whole_pipeline_and_a_second_run_reuses_the_store(tmp_path):
    db, out = tmp_path / "demo.db", tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "semacdr_cli",
        "demo",
        "--size",
        "tiny",
        "--db",
        str(db),
        "--out",
        str(out),
        "--json",
    ]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    result = json.loads(first.stdout)

    names = [s["name"] for s in result["stages"]]
    assert names[:2] == ["data", "taxonomy"]
    for stage in (
        "annotate book",
        "annotate movie",
        "embed book",
        "embed movie",
        "train sasrec",
        "train semacdr",
        "eval semacdr",
        "report",
    ):
        assert stage in names
    for model in ("sasrec", "semacdr"):
        for protocol in ("sampled", "full"):
            assert set(result["metrics"][model][protocol]) == {"hr@5", "hr@10", "ndcg@5", "ndcg@10"}
            assert all(0.0 <= v <= 1.0 for v in result["metrics"][model][protocol].values())

    # every item of both domains is annotated (ok or failed with a reason) and embedded
    stats = json.loads(subprocess.run([sys.executable, "-m", "semacdr_cli", "data", "stats", "--db", str(db),
                                       "--json"], capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert stats["synthetic"] is True
    for dom in ("book", "movie"):
        d = stats["domains"][dom]
        assert d["annotated"] + d["failed"] == d["items"]
        assert d["embedded"] == d["items"]

    report = out / "report" / "report.md"
    text = report.read_text()
    assert "synthetic" in text.lower()
    pngs = sorted((out / "report" / "figures").glob("*.png"))
    assert len(pngs) >= 3
    for png in pngs:
        assert png.name in text
        assert _non_trivial_png(png), png
    assert (out / "pipeline.json").exists()

    # a second run reuses the dataset, the taxonomy, the annotations and the embeddings
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, check=False)
    assert second.returncode == 0, second.stderr[-3000:]
    again = {s["name"]: s for s in json.loads(second.stdout)["stages"]}
    assert again["taxonomy"]["detail"].get("reused") is True
    for domain in ("book", "movie"):  # finished domains: the LLM is not even loaded
        assert again[f"annotate {domain}"]["detail"]["done"] == 0
        assert again[f"annotate {domain}"]["detail"].get("reused") is True
