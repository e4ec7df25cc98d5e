"""`semacdr report` renders from a small store built here, links the PNGs it wrote, and turns
missing inputs into notes."""

from __future__ import annotations

import json
import re
import statistics
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from semacdr_cli.cli.common import App
from semacdr_cli.cli.report import register
from semacdr_cli.report.build import build_report
from semacdr_cli.store import Store, dumps, now
from semacdr_cli.store import report_queries as q

DOMAINS = ("kitchen", "food")
TAXONOMY = {
    "Style": ["Modern", "Rustic", "Classic"],
    "Use": ["Cooking", "Baking", "Serving"],
    "Price": ["Budget", "Premium"],
}
EVIL = "Evil | <img src=x onerror=alert(1)> [click](http://evil.example)"


def build_store(path: Path, *, n_items=24, n_users=12, taxonomy=True, evil=False, failed_every=7) -> dict:
    """A tiny but complete store: 2 domains, users with 4 items per domain, a taxonomy, labels."""
    s = Store(path)
    rng = np.random.default_rng(0)
    ids: dict = {"items": {d: [] for d in DOMAINS}, "users": []}
    with s.transaction() as c:
        ds = c.execute(
            "INSERT INTO datasets (name, format, synthetic, created_at) VALUES ('tiny', 'demo', 1, ?)",
            (now(),),
        ).lastrowid
        ids["dataset"] = ds
        dom = {}
        for pos, d in enumerate(DOMAINS):
            dom[d] = c.execute(
                "INSERT INTO domains (dataset_id, name, position) VALUES (?, ?, ?)", (ds, d, pos)
            ).lastrowid
            for i in range(n_items):
                ids["items"][d].append(
                    c.execute(
                        "INSERT INTO items (domain_id, external_id, title) VALUES (?, ?, ?)",
                        (dom[d], f"{d}-{i}", f"{d} item {i}"),
                    ).lastrowid
                )
        for u in range(n_users):
            uid = c.execute(
                "INSERT INTO users (dataset_id, external_id) VALUES (?, ?)", (ds, f"u{u}")
            ).lastrowid
            ids["users"].append(uid)
            pos = 0
            for d in DOMAINS:
                picks = rng.choice(ids["items"][d], size=4, replace=False)
                for k, item in enumerate(picks):
                    split = "test" if k == 3 else "valid" if k == 2 else "train"
                    c.execute(
                        "INSERT INTO interactions (user_id, item_id, domain_id, position, split) VALUES (?, ?, ?, ?, ?)",
                        (uid, int(item), dom[d], pos, split),
                    )
                    pos += 1
        if taxonomy:
            tax = c.execute(
                "INSERT INTO taxonomies (dataset_id, version, origin, model, backend, created_at) "
                "VALUES (?, 1, 'induced', 'SmolLM2-135M', 'transformers', ?)",
                (ds, now()),
            ).lastrowid
            ids["taxonomy"] = tax
            subs = []
            cats = dict(TAXONOMY)
            if evil:
                cats[EVIL] = ["ok"]
            for cp, (cat, names) in enumerate(cats.items()):
                cid = c.execute(
                    "INSERT INTO taxonomy_categories (taxonomy_id, position, name) VALUES (?, ?, ?)",
                    (tax, cp, cat),
                ).lastrowid
                for sp, sub in enumerate(names):
                    subs.append(
                        (
                            cat,
                            sub,
                            c.execute(
                                "INSERT INTO taxonomy_subcategories (category_id, position, name) VALUES (?, ?, ?)",
                                (cid, sp, sub),
                            ).lastrowid,
                        )
                    )
            ids["labels"] = {}
            for d in DOMAINS:
                for n, item in enumerate(ids["items"][d]):
                    failed = n % failed_every == failed_every - 1
                    aid = c.execute(
                        "INSERT INTO annotations (item_id, taxonomy_id, status, model, backend, prompt_hash, "
                        "schema_hash, created_at) VALUES (?, ?, ?, 'm', 'b', 'p', 's', ?)",
                        (item, tax, "failed" if failed else "ok", now()),
                    ).lastrowid
                    if failed:
                        continue
                    # the last subcategory of "Price" is never used
                    chosen = [subs[n % 3], subs[3 + (n * 5) % 3], subs[6]]
                    ids["labels"][item] = chosen
                    for _, _, sid in chosen:
                        c.execute(
                            "INSERT INTO annotation_labels (annotation_id, subcategory_id) VALUES (?, ?)",
                            (aid, sid),
                        )
    s.close()
    return ids


def add_run(
    db: Path,
    run_dir: Path | None,
    *,
    model="semacdr",
    seed=0,
    metrics=None,
    ablation=None,
    dataset_id=1,
    epochs=6,
    eval_file=None,
) -> int:
    """Register a run (as the trainer would) and write its folder."""
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        records = [
            {
                "epoch": e,
                "loss": 2.0 / e,
                "loss_rec": 1.5 / e,
                "loss_cl": 0.5 / e,
                "valid": {"ndcg@10": 0.1 + 0.02 * e - 0.002 * e * e},
                "seconds": 1.0,
            }
            for e in range(1, epochs + 1)
        ]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        (run_dir / "config.json").write_text(json.dumps({"model": model, "seed": seed}))
        if eval_file is not None:
            (run_dir / "eval.json").write_text(json.dumps(eval_file))
    s = Store(db)
    with s.transaction() as c:
        rid = c.execute(
            "INSERT INTO runs (dataset_id, model, source_domain, target_domain, ablation, seed, status, run_dir, "
            "config, taxonomy_id, best_epoch, metrics, created_at) "
            "VALUES (?, ?, 'kitchen', 'food', ?, ?, 'finished', ?, '{}', NULL, 5, ?, ?)",
            (
                dataset_id,
                model,
                ablation,
                seed,
                str(run_dir or "/nonexistent/run"),
                None if metrics is None else dumps(metrics),
                now(),
            ),
        ).lastrowid
    s.close()
    return rid


def fake_metrics(rng) -> dict:
    return {
        p: {k: float(rng.uniform(0.01, 0.6)) for k in ("hr@5", "hr@10", "ndcg@5", "ndcg@10")}
        for p in ("sampled", "full")
    }


def linked_pngs(report: Path) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report.read_text())


def assert_real_png(path: Path) -> None:
    from matplotlib.image import imread

    assert path.is_file() and path.stat().st_size > 5000
    img = imread(path)
    assert float(img[..., :3].std()) > 0.01


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One store, three runs (two seeds of semacdr, one sasrec whose folder is gone), one report."""
    tmp = tmp_path_factory.mktemp("report")
    db = tmp / "store.db"
    ids = build_store(db)
    rng = np.random.default_rng(1)
    m1, m2 = fake_metrics(rng), fake_metrics(rng)
    r1 = add_run(db, tmp / "runs" / "a", seed=1, metrics={"test": m1})
    r2 = add_run(db, tmp / "runs" / "b", seed=2, eval_file={"split": "test", **m2})  # eval only in the folder
    r3 = add_run(db, None, model="sasrec", seed=1, metrics=fake_metrics(rng))
    result = build_report(db, [str(r1), str(r2), str(r3)], tmp / "out")
    return {"db": db, "ids": ids, "runs": (r1, r2, r3), "metrics": (m1, m2), "result": result, "tmp": tmp}


def test_report_links_every_png_it_wrote_and_each_is_a_real_image(rendered):
    result = rendered["result"]
    links = linked_pngs(result.report)
    out = result.report.parent
    assert sorted(links) == sorted(str(p.relative_to(out)) for p in result.figures)
    names = {Path(p).name for p in links}
    r1, r2, _ = rendered["runs"]
    assert {
        f"curves_run{r1}.png",
        f"curves_run{r2}.png",
        "coverage.png",
        "fig4_user_category.png",
        "fig4_user_subcategory.png",
    } <= names
    for link in links:
        assert_real_png(out / link)


def test_report_dataset_table_counts_what_the_store_holds(rendered):
    text = rendered["result"].report.read_text()
    ids = rendered["ids"]
    with Store(rendered["db"]) as s:  # items of the Table-4 view: those that occur in interactions
        n_items = len({r[0] for r in s.query("SELECT item_id FROM interactions i JOIN domains d ON d.id = i.domain_id "
                                              "WHERE d.name = 'kitchen'")})  # fmt: skip
    n_users = len(ids["users"])
    row = next(line for line in text.splitlines() if line.startswith("| kitchen |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    annotated = sum(1 for i in ids["items"]["kitchen"] if i in ids["labels"])
    assert cells[1:5] == [str(n_users), str(n_items), str(4 * n_users), "4.00"]
    # annotated / failed count every item of the domain, as `data stats` does
    assert cells[6:8] == [str(annotated), str(len(ids["items"]["kitchen"]) - annotated)]
    assert "Synthetic data" in text


def test_report_results_take_store_metrics_then_the_eval_file_and_aggregate_seeds(rendered):
    data = json.loads(rendered["result"].data.read_text())
    r1, r2, _ = rendered["runs"]
    m1, m2 = rendered["metrics"]
    by_id = {r["id"]: r for r in data["results"]}
    assert by_id[r1]["metrics"] == m1 and by_id[r1]["metrics_from"] == "store"
    assert by_id[r2]["metrics"] == m2 and by_id[r2]["metrics_from"] == "eval.json"
    text = rendered["result"].report.read_text()
    vals = [m1["full"]["ndcg@10"], m2["full"]["ndcg@10"]]
    expected = f"{statistics.mean(vals):.4f} ± {statistics.stdev(vals):.4f}"
    lines = text.splitlines()
    first_table = next(i for i, line in enumerate(lines) if line.startswith("|"))
    assert lines[first_table - 2].startswith(
        "Test split, mean ± standard deviation"
    )  # the summary comes first
    header = lines[first_table].strip(" |").split(" | ")
    agg = next(line for line in lines if line.startswith("| semacdr | kitchen → food | – | 2 |"))
    assert agg.strip(" |").split(" | ")[header.index("full NDCG@10")] == expected


def test_report_missing_run_folder_and_trainer_api_become_notes(rendered):
    notes = rendered["result"].notes
    _, _, r3 = rendered["runs"]
    assert any(n.startswith(f"run {r3}: run folder") for n in notes)
    # trainer.api may or may not exist yet; without the run being trainable data, figure 3 is a note either way
    assert any(n.startswith("figure 3 skipped") for n in notes)
    text = rendered["result"].report.read_text()
    assert "## Notes" in text and "fig3_tsne.png" not in text


def test_report_figure4_user_has_the_most_annotated_items_in_both_domains(rendered):
    data = json.loads(rendered["result"].data.read_text())
    s = Store(rendered["db"])
    ids = rendered["ids"]
    best, best_key = None, None
    for uid in ids["users"]:
        per = []
        for d in DOMAINS:
            items = {r[0] for r in s.query("SELECT item_id FROM interactions WHERE user_id = ?", (uid,))}
            per.append(len([i for i in ids["items"][d] if i in items and i in ids["labels"]]))
        key = (min(per), sum(per), -uid)
        if best_key is None or key > best_key:
            best, best_key = uid, key
    ext = s.one("SELECT external_id FROM users WHERE id = ?", (best,))[0]
    s.close()
    assert data["figure4"]["user"] == ext


def test_user_label_counts_count_distinct_items_per_label(tmp_path):
    db = tmp_path / "s.db"
    ids = build_store(db)
    s = Store(db)
    uid = ids["users"][0]
    counts = q.user_label_counts(s, uid, ids["taxonomy"])
    for d in DOMAINS:
        items = {r[0] for r in s.query("SELECT item_id FROM interactions WHERE user_id = ?", (uid,))}
        mine = [i for i in ids["items"][d] if i in items and i in ids["labels"]]
        expected: dict = {}
        for i in mine:
            for cat, _, _ in ids["labels"][i]:
                expected[cat] = expected.get(cat, 0) + 1
        assert counts.get(d, {"items": 0})["items"] == len(mine)
        assert counts.get(d, {"categories": {}})["categories"] == expected
    s.close()


@pytest.mark.parametrize("with_ablation_run", [False, True])
def test_report_draws_figure3_from_the_trainer_api(tmp_path, monkeypatch, with_ablation_run):
    db = tmp_path / "s.db"
    build_store(db)
    rid = add_run(db, tmp_path / "run", seed=0, metrics={"sampled": {"hr@10": 0.5}})
    ids = [rid]
    if with_ablation_run:
        ids.append(add_run(db, tmp_path / "run2", seed=0, ablation="no-agnostic-semantics"))
    rng = np.random.default_rng(0)
    calls = []

    def item_representations(db_path, run_id, with_agnostic=True):
        calls.append((run_id, with_agnostic))
        shift = 0.0 if (with_agnostic and run_id == rid) else 8.0
        vecs = np.r_[rng.normal(0, 1, (40, 8)), rng.normal(shift, 1, (40, 8))]
        return vecs, ["kitchen"] * 40 + ["food"] * 40

    monkeypatch.setitem(
        sys.modules, "trainer.api", types.SimpleNamespace(item_representations=item_representations)
    )
    result = build_report(db, ids, tmp_path / "out", tsne_points=60, seed=1)
    if with_ablation_run:  # the paper's comparison: the model trained without the view
        assert sorted(calls) == sorted([(rid, True), (ids[1], True)])
    else:  # the same model with the view left out
        assert sorted(calls) == [(rid, False), (rid, True)]
    assert "figures/fig3_tsne.png" in linked_pngs(result.report)
    assert_real_png(tmp_path / "out" / "figures" / "fig3_tsne.png")
    fig3 = json.loads(result.data.read_text())["figure3"]
    assert fig3["points"] == 60 and fig3["mixing"]["without"] < fig3["mixing"]["with"]


def test_report_escapes_untrusted_taxonomy_names(tmp_path):
    db = tmp_path / "s.db"
    build_store(db, evil=True)
    result = build_report(db, [], tmp_path / "out", dataset="tiny")
    text = result.report.read_text()
    assert not re.search(r"(?<!\\)<img", text) and not re.search(r"(?<!\\)\]\(http://evil", text)
    assert r"Evil \| \<img src=x onerror=alert(1)\> \[click\](http://evil.example)" in text


def test_report_without_taxonomy_or_runs_still_renders_with_notes(tmp_path):
    db = tmp_path / "s.db"
    build_store(db, taxonomy=False)
    result = build_report(db, [], tmp_path / "out")
    assert result.figures == []
    assert result.runs == []
    assert any("no taxonomy" in n for n in result.notes)
    assert "no taxonomy yet" in result.report.read_text()


def _cli():
    app = App()

    @app.callback()
    def root() -> None:
        """test root"""

    register(app)
    return app


def test_report_cli_json_prints_only_the_paths_written(rendered):
    r1 = rendered["runs"][0]
    out = rendered["tmp"] / "cli-out"
    res = CliRunner().invoke(
        _cli(), ["report", str(r1), "--out", str(out), "--db", str(rendered["db"]), "--json"]
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert Path(payload["report"]).is_file()
    assert payload["runs"] == [r1]
    assert all(Path(p).is_file() for p in payload["figures"]) and payload["figures"]


@pytest.mark.parametrize(
    ("args", "message"),
    [(["999"], "no run with id 999"), (["--user", "nobody"], "--user: no user"), (["no/such/dir"], "RUN:")],
)
def test_report_cli_bad_reference_is_one_line_error(rendered, tmp_path, args, message):
    res = CliRunner().invoke(
        _cli(), ["report", *args, "--out", str(tmp_path / "o"), "--db", str(rendered["db"])]
    )
    assert res.exit_code == 1
    assert message in res.output
    assert "Traceback" not in res.output
    assert not (tmp_path / "o" / "report.md").exists()


def test_report_cli_missing_store_is_an_error(tmp_path):
    res = CliRunner().invoke(
        _cli(), ["report", "--out", str(tmp_path / "o"), "--db", str(tmp_path / "none.db")]
    )
    assert res.exit_code == 1
    assert not (tmp_path / "none.db").exists()


def test_report_modules_import_no_plotting_or_training_library():
    import subprocess

    code = (
        "import sys; import semacdr_cli.cli.report, semacdr_cli.report.build, semacdr_cli.report.plots; "
        "print(','.join(m for m in ('matplotlib', 'sklearn', 'torch', 'trainer.api') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_extract_metrics_prefers_the_test_split_of_a_trainer_eval():
    from semacdr_cli.report.runs import extract_metrics

    test = {"sampled": {"HR@10": 0.4}, "full": {"hr@10": 0.1}}
    ev = {
        "valid": {"sampled": {"hr@10": 0.9}, "full": {"hr@10": 0.8}},
        "test": test,
        "train": {"best_epoch": 3},
    }
    assert extract_metrics(ev) == {"sampled": {"hr@10": 0.4}, "full": {"hr@10": 0.1}}
    assert extract_metrics({"train": {}}) is None
    assert extract_metrics("not a dict") is None


def test_report_skips_broken_epoch_lines_with_a_note_naming_file_and_line(tmp_path):
    db = tmp_path / "s.db"
    build_store(db, taxonomy=False)
    run_dir = tmp_path / "run"
    rid = add_run(db, run_dir, metrics={"sampled": {"hr@10": 0.5}}, epochs=4)
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 5, "loss": \n')
    result = build_report(db, [rid], tmp_path / "out")
    assert any("metrics.jsonl:5 is not JSON" in n for n in result.notes)
    assert (tmp_path / "out" / "figures" / f"curves_run{rid}.png").is_file()
    assert "4 epochs" in result.report.read_text()


def test_taxonomy_section_shows_the_config_not_the_induction_stats_and_warns_on_a_fallback():
    import json as _json

    from semacdr_cli.report.markdown import _taxonomy_section

    tax = {"version": 2, "origin": "fallback", "model": "m", "backend": "b", "created_at": "now",
           "params": _json.dumps({"config": {"k": 2}, "stats": {"facets": {"Genre": {"answers": ["SECRET"]}}}}),
           "categories": [{"name": "Genre", "subcategories": ["Horror", "Romance", "Crime"]}]}  # fmt: skip
    text = _taxonomy_section(tax)
    assert "parameters `{'k': 2}`" in text
    assert "SECRET" not in text and "fixed generic seed list" in text
