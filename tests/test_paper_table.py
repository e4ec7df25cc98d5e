"""bench/paper_table.py: docs/results.md's tables are generated from the results file, never typed."""

import json
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import paper_table  # noqa: E402
import paper_table_prepare  # noqa: E402
from paper_table_docs import BEGIN, END, paired_p, render  # noqa: E402


def _run(row, seed, ndcg, hr, direction="kitchen:food", hit_cap=False, epochs=60):
    metrics = {"ndcg@5": ndcg * 0.9, "ndcg@10": ndcg, "hr@5": hr * 0.8, "hr@10": hr}
    return {
        "row": row,
        "direction": direction,
        "seed": seed,
        "sampled": metrics,
        "full": {k: v / 4 for k, v in metrics.items()},
        "breakdown": {"cold": {"cases": 10, "sampled": {"hr@10": hr / 2}, "full": {"hr@10": 0.0}}},
        "train": {"epochs": epochs, "hit_cap": hit_cap},
    }


def _fake_trainer(monkeypatch, what) -> list:
    """api.train / api.evaluate replaced: each train call appends ``what(kwargs)`` to the list returned."""
    from trainer import api

    trained = []

    def fake_train(store, **kw):
        trained.append(what(kw))
        return [{"id": len(trained), "metrics": {"train": {"epochs": 40, "hit_cap": False}}}]

    def fake_evaluate(store, run):
        m = {"ndcg@5": 0.1, "ndcg@10": 0.2, "hr@5": 0.3, "hr@10": 0.4}
        return {"sampled": m, "full": m, "breakdown": {}, "training": [{"run": run}]}

    monkeypatch.setattr(api, "train", fake_train)
    monkeypatch.setattr(api, "evaluate", fake_evaluate)
    return trained


@pytest.fixture
def doc():
    return {
        "runs": [
            _run("sasrec", 42, 0.30, 0.50),
            _run("sasrec", 43, 0.32, 0.52),
            _run("cd-sasrec", 42, 0.33, 0.55),
            _run("cd-sasrec", 43, 0.35, 0.53),
            _run("semacdr", 42, 0.36, 0.56),
            _run("semacdr", 43, 0.40, 0.60, hit_cap=True, epochs=300),
        ],
        "stages": {"taxonomy induce": {"seconds": 101.0, "threads": 2}},
        "machine": {"pid1": {"cpu": "Test CPU (avx2)", "threads": 2}},
    }


def test_a_stage_whose_llm_answers_came_from_the_cache_says_so(doc):
    doc["stages"]["taxonomy induce"]["summary"] = {
        "provenance": {"params": {"stats": {"llm_calls": 0, "cached_calls": 352}}}
    }
    doc["stages"]["annotate food"] = {"seconds": 300.0, "threads": 1, "summary": {"cached": 6}}
    text = render(doc, paper_table.ROWS, paper_table.BASELINES)
    assert "taxonomy induce | 101 s | 2 | all 352 LLM answers from the cache of an earlier run |" in text
    assert "annotate food | 300 s | 1 | 6 LLM answers from the cache |" in text
    # a re-run that kept the identical stored version: its own statistics count, not the first run's
    doc["stages"]["taxonomy induce"]["summary"] = {
        "provenance": {"params": {"stats": {"llm_calls": 352, "cached_calls": 0}}},
        "this_run": {"llm_calls": 0, "cached_calls": 352, "kept": True},
    }
    text = render(doc, paper_table.ROWS, paper_table.BASELINES)
    assert "taxonomy induce | 101 s | 2 | all 352 LLM answers from the cache of an earlier run |" in text


def test_prepare_runs_each_domains_stages_side_by_side_when_the_cores_allow_and_stops_at_a_failed_one(
    tmp_path, monkeypatch
):
    import subprocess
    import threading

    import semacdr_cli.machine

    running, overlapped, lock = set(), [], threading.Lock()

    def fake_run(cmd, **kw):  # a CLI stage: notes which stages were running at the same moment
        name = " ".join(cmd[cmd.index("--json") + 1 :][:3])
        with lock:
            running.add(name)
            overlapped.append(frozenset(running))
        threading.Event().wait(0.05)
        with lock:
            running.discard(name)
        assert kw["env"]["SEMACDR_THREADS"] == "1"
        return subprocess.CompletedProcess(cmd, 0, stdout=json.dumps({"done": 1}), stderr="")

    monkeypatch.setattr(paper_table_prepare, "run_stage", fake_run)
    monkeypatch.setattr(paper_table, "semantic_inputs", lambda store: {"taxonomy": {}, "domains": {}})
    out = tmp_path / "fk.json"
    monkeypatch.setattr(semacdr_cli.machine, "available_cores", lambda: 2)
    paper_table_prepare.prepare("s.db", out, distill=10, threads=1)
    stages = json.loads(out.read_text())["stages"]
    assert stages["annotate food"]["beside"] == ["annotate kitchen"]
    assert stages["embed kitchen"]["beside"] == ["embed food"]
    assert "beside" not in stages["taxonomy induce"]
    assert max(len(s) for s in overlapped) == 2
    text = render({"runs": [], "stages": stages}, paper_table.ROWS, paper_table.BASELINES)
    assert "| annotate food | 0 s | 1 | side by side with annotate kitchen |" in text
    # one core: one stage at a time, and no stage claims a neighbour
    overlapped.clear()
    out.unlink()
    monkeypatch.setattr(semacdr_cli.machine, "available_cores", lambda: 1)
    paper_table_prepare.prepare("s.db", out, distill=10, threads=1)
    assert max(len(s) for s in overlapped) == 1
    assert not any("beside" in s for s in json.loads(out.read_text())["stages"].values())
    # a stage that fails stops the job with its name, after the stage beside it is recorded
    out.unlink()
    monkeypatch.setattr(semacdr_cli.machine, "available_cores", lambda: 2)

    def failing_run(cmd, **kw):
        if "kitchen" in cmd and "annotate" in cmd:
            return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="error: kitchen broke")
        return fake_run(cmd, **kw)

    monkeypatch.setattr(paper_table_prepare, "run_stage", failing_run)
    with pytest.raises(SystemExit, match="annotate kitchen: error: kitchen broke"):
        paper_table_prepare.prepare("s.db", out, distill=10, threads=1)
    assert sorted(json.loads(out.read_text())["stages"]) == ["annotate food", "taxonomy induce"]


def test_the_tables_hold_each_rows_mean_and_sample_std_and_flag_capped_runs(doc):
    text = render(doc, paper_table.ROWS, paper_table.BASELINES)
    sema = next(line for line in text.splitlines() if line.startswith("| SemaCDR |"))
    assert f"{statistics.mean([0.36, 0.40]):.4f} ± {statistics.stdev([0.36, 0.40]):.4f}" in sema
    assert "hit the cap" in sema  # one of its runs did
    sas = next(line for line in text.splitlines() if line.startswith("| SASRec |"))
    assert "converged" in sas and "| 2 |" in sas
    assert "Test CPU (avx2)" in text and "taxonomy induce | 101 s | 2 |  |" in text
    assert "Food → Kitchen" not in text  # no run in that direction: no table for it


def test_relaimpr_is_over_the_best_baseline_per_metric(doc):
    text = render(doc, paper_table.ROWS, paper_table.BASELINES)
    line = next(line for line in text.splitlines() if "RelaImpr of SemaCDR over" in line)
    cells = [c.strip() for c in line.strip("|").split("|")][1:]
    # N@10: best baseline cd-sasrec (0.34); SemaCDR 0.38 -> +11.8 %
    assert cells[1] == f"{(0.38 / 0.34 - 1) * 100:+.1f} % vs cd-sasrec"
    # HR@10: cd-sasrec 0.54 vs sasrec 0.51 -> cd-sasrec; SemaCDR 0.58
    assert cells[3] == f"{(0.58 / 0.54 - 1) * 100:+.1f} % vs cd-sasrec"


def test_the_table_2_plug_in_is_compared_with_the_best_baseline_and_with_its_own_backbone(doc):
    doc["runs"] += [_run("sasrec-semantics", 42, 0.35, 0.55), _run("sasrec-semantics", 43, 0.36, 0.56)]
    text = render(doc, paper_table.ROWS, paper_table.BASELINES)
    label = "SASRec + semantic component (Table 2 plug-in)"
    over_best = next(
        line for line in text.splitlines() if f"RelaImpr of {label} over the best baseline" in line
    )
    over_base = next(line for line in text.splitlines() if f"RelaImpr of {label} over sasrec" in line)
    assert f"{(0.355 / 0.34 - 1) * 100:+.1f} % vs cd-sasrec" in over_best  # N@10 means
    assert f"{(0.355 / 0.31 - 1) * 100:+.1f} % vs sasrec" in over_base
    p_row = text.splitlines()[text.splitlines().index(over_base) + 1]
    assert p_row.startswith("| p, paired t-test over 2 seeds | ") and "–" not in p_row  # seeds 42 and 43


def test_paired_test_pairs_seeds_and_needs_two_of_them():
    assert paired_p({1: 0.5}, {1: 0.4}) == (1, None)
    n, p = paired_p({1: 0.50, 2: 0.61, 3: 0.55}, {1: 0.40, 2: 0.50, 3: 0.47, 9: 0.1})
    assert n == 3 and 0.0 < p < 0.05
    n, p = paired_p({1: 0.5, 2: 0.4}, {1: 0.55, 2: 0.35})
    assert n == 2 and p > 0.5


def test_docs_are_rewritten_only_between_the_markers(doc, tmp_path):
    results = tmp_path / "r.json"
    results.write_text(json.dumps(doc))
    docs = tmp_path / "results.md"
    docs.write_text(
        f"# Title\n\nhand-written intro\n\n{BEGIN}\nold numbers 0.1234\n{END}\n\nhand-written end\n"
    )
    paper_table.write_docs(results, docs)
    text = docs.read_text()
    assert text.startswith("# Title\n\nhand-written intro\n\n" + BEGIN)
    assert text.endswith(END + "\n\nhand-written end\n")
    assert "old numbers" not in text and "| SemaCDR |" in text


def test_the_figure_draws_one_dot_per_current_paper_table_run_and_leaves_out_runs_on_earlier_inputs(
    doc, tmp_path
):
    doc["semantics"] = {"taxonomy": {"origin": "induced"}, "domains": {}}
    for r in doc["runs"]:
        if r["row"] == "semacdr":
            r["semantics"] = paper_table.fingerprint(doc["semantics"])
    doc["runs"].append({**_run("semacdr", 44, 0.9, 0.9), "semantics": "old"})  # earlier inputs
    doc["runs"].append(_run("sasrec", 42, 0.2, 0.3, direction="food:kitchen"))
    doc["runs"].append({**_run("cd-sasrec", 44, 0.5, 0.6), "table": "fixes"})  # another table's: not drawn
    results = tmp_path / "r.json"
    results.write_text(json.dumps(doc))
    docs = tmp_path / "results.md"
    docs.write_text(f"{BEGIN}\n{END}\n")
    drawn = paper_table.write_docs(results, docs)
    assert (docs.parent / paper_table.FIGURE).read_bytes()[:4] == b"\x89PNG"
    # 6 Kitchen -> Food runs + 1 Food -> Kitchen; the earlier-input run is not drawn
    assert drawn["points"] == 7
    assert drawn["rows"] == {"kitchen:food": ["sasrec", "cd-sasrec", "semacdr"], "food:kitchen": ["sasrec"]}


def test_the_committed_results_page_is_what_the_committed_results_file_renders():
    results = ROOT / "bench" / "results" / "food-kitchen.json"
    page = (ROOT / "docs" / "results.md").read_text()
    assert BEGIN in page and END in page
    block = page.split(BEGIN, 1)[1].split(END, 1)[0]
    doc = json.loads(results.read_text()) if results.exists() else {"runs": [], "stages": {}}
    assert block == "\n" + render(paper_table.tables_doc(doc), paper_table.ROWS, paper_table.BASELINES)


def test_new_semantic_inputs_retire_the_semantic_runs_of_the_old_ones_and_keep_the_baselines(doc):
    old = {"taxonomy": {"origin": "induced", "categories": {"Genre": ["Art", "Fiction", "Horror"]}},
           "domains": {"food": {"annotated": 10, "methods": {"score": 10}}}}  # fmt: skip
    doc["semantics"] = old
    assert paper_table.done_keys(doc) == {(r["row"], r["direction"], r["seed"]) for r in doc["runs"]}
    new = {**old, "taxonomy": {"origin": "induced", "categories": {"Kind": ["Tea", "Pans", "Cups"]}}}
    paper_table_prepare.record_semantics(doc, new)
    assert doc["semantics"]["fingerprint"] == paper_table.fingerprint(new) != paper_table.fingerprint(old)
    assert doc["earlier_semantics"] == {paper_table.fingerprint(old): old}
    sema = [r for r in doc["runs"] if r["row"] == "semacdr"]
    assert {r["semantics"] for r in sema} == {paper_table.fingerprint(old)}
    done = paper_table.done_keys(doc)
    assert ("semacdr", "kitchen:food", 42) not in done  # to be trained again on the new inputs
    assert ("sasrec", "kitchen:food", 42) in done and ("cd-sasrec", "kitchen:food", 43) in done
    text = render(paper_table.tables_doc(doc), paper_table.ROWS, paper_table.BASELINES)
    current_part, earlier = text.split("2 run(s) of semantic rows were trained on earlier semantic inputs")
    assert f"### Kitchen → Food, earlier semantic inputs `{paper_table.fingerprint(old)}`" in earlier
    assert "| SemaCDR |" not in current_part and "| SASRec |" in current_part
    assert "| SemaCDR | 2 |" in earlier and "RelaImpr of SemaCDR" in earlier  # still beside the baselines
    paper_table_prepare.record_semantics(doc, new)  # the same inputs again: nothing retired
    assert list(doc["earlier_semantics"]) == [paper_table.fingerprint(old)]


def test_prepare_stops_before_replacing_inputs_that_semantic_runs_rest_on_and_keeps_their_stage_times(
    doc, tmp_path, monkeypatch
):
    old = {"taxonomy": {"origin": "induced", "categories": {"Genre": ["Art", "Fiction"]}}, "domains": {}}
    doc["semantics"] = old
    out = tmp_path / "fk.json"
    out.write_text(json.dumps(doc))
    monkeypatch.setattr(paper_table_prepare, "prepare", lambda *a: pytest.fail("stages ran"))
    monkeypatch.setattr(sys, "argv", ["paper_table.py", "--store", "s.db", "--out", str(out), "--prepare"])
    with pytest.raises(SystemExit, match="2 runs of semantic rows rest on the inputs it records"):
        paper_table.main()
    baselines_only = {**doc, "runs": [r for r in doc["runs"] if r["row"] not in paper_table.SEMANTIC_ROWS]}
    out.write_text(json.dumps(baselines_only))
    paper_table_prepare.refuse_new_inputs(out)  # nothing rests on the inputs: new ones may replace them
    stages = {"annotate food": {"seconds": 390.5, "threads": 1}}
    new = {**old, "taxonomy": {"origin": "induced", "categories": {"Kind": ["Tea", "Pans"]}}}
    paper_table_prepare.record_semantics(doc, new, stages)  # what --new-inputs does once the stages ran
    assert doc["earlier_semantics"][paper_table.fingerprint(old)]["stages"] == stages


def test_runs_on_two_earlier_sets_of_semantic_inputs_get_a_table_each_and_are_never_averaged(doc):
    first = {"taxonomy": {"origin": "induced", "categories": {"Genre": ["Art", "Fiction"]}}}
    second = {"taxonomy": {"origin": "induced", "categories": {"Kind": ["Tea", "Pans"]}}}
    doc["semantics"] = first
    paper_table_prepare.record_semantics(doc, second)  # the two semacdr runs now belong to `first`
    doc["runs"].append({**_run("semacdr", 42, 0.20, 0.40), "semantics": paper_table.fingerprint(second)})
    paper_table_prepare.record_semantics(
        doc, {"taxonomy": {"origin": "induced", "categories": {"Mood": ["Calm"]}}}
    )
    text = render(paper_table.tables_doc(doc), paper_table.ROWS, paper_table.BASELINES)
    tables = text.split("### Kitchen → Food, earlier semantic inputs")[1:]
    assert [t.split("`")[1] for t in tables] == [
        paper_table.fingerprint(second),
        paper_table.fingerprint(first),
    ]
    newer, older = (next(line for line in t.splitlines() if line.startswith("| SemaCDR |")) for t in tables)
    assert "| SemaCDR | 1 |" in newer and "0.2000" in newer
    assert "| SemaCDR | 2 |" in older and "0.2000" not in older


def test_a_store_whose_item_texts_differ_may_add_runs_only_of_rows_that_read_no_texts(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from trainer import api

    def inputs(food_texts):
        domain = {"annotated": 5, "failed": 0, "methods": {"score": 5}, "labels_digest": "L", "embedded": 5}
        return {
            "taxonomy": {"origin": "induced", "categories": {"Genre": ["A", "B"]}},
            "domains": {
                "food": {**domain, "texts_digest": food_texts},
                "kitchen": {**domain, "texts_digest": "K"},
            },
        }

    recorded, store = inputs("T1"), inputs("T2")  # the same labels; one domain's texts differ
    out = tmp_path / "fk.json"
    fp = paper_table.fingerprint(recorded)
    out.write_text(json.dumps({"runs": [], "stages": {}, "semantics": {**recorded, "fingerprint": fp}}))
    monkeypatch.setattr(paper_table, "semantic_inputs", lambda s: store)
    trained = []
    monkeypatch.setattr(api, "train", lambda s, **kw: trained.append(kw["ablation"]) or [{"id": 1}])
    m = {"ndcg@5": 0.1, "ndcg@10": 0.2, "hr@5": 0.3, "hr@10": 0.4}
    monkeypatch.setattr(
        api, "evaluate", lambda s, r: {"sampled": m, "full": m, "breakdown": {}, "training": [{}]}
    )

    def args(rows):
        return SimpleNamespace(
            out=out, store="s.db", rows=rows, directions="kitchen:food", seeds=1, first_seed=42,
            epochs=None, runs_dir=str(tmp_path / "runs"), threads=1,
        )  # fmt: skip

    for rows in ("semacdr", "no-agnostic", "sasrec-semantics"):  # they read the item vectors' texts
        with pytest.raises(SystemExit, match=f"{rows} reads .*texts, which differ"):
            paper_table.run_all(args(rows))
    assert trained == []
    paper_table.run_all(args("no-inner"))  # labels only: the same as the recorded inputs'
    [run] = json.loads(out.read_text())["runs"]
    assert trained == [["no-inner-semantics"]]
    assert run["semantics"] == fp and run["store_semantics"] == paper_table.fingerprint(store) != fp
    assert run in paper_table.current_runs(json.loads(out.read_text()))


def test_a_restarted_job_skips_finished_runs_and_appends_the_rest_each_naming_its_machine(
    tmp_path, monkeypatch
):
    from types import SimpleNamespace

    out = tmp_path / "fk.json"
    out.write_text(json.dumps({"runs": [_run("sasrec", 42, 0.3, 0.5)], "stages": {}}))
    trained = _fake_trainer(monkeypatch, lambda kw: (kw["model"], kw["source"], kw["target"], kw["seed"]))
    args = SimpleNamespace(
        out=out, store="s.db", rows="sasrec,cd-sasrec", directions="kitchen:food", seeds=1, first_seed=42,
        epochs=None, runs_dir=str(tmp_path / "runs"), threads=1,
    )  # fmt: skip
    paper_table.run_all(args)
    assert trained == [("cd-sasrec", "kitchen", "food", 42)]  # sasrec seed 42 was already there
    doc = json.loads(out.read_text())
    assert sorted(r["row"] for r in doc["runs"]) == ["cd-sasrec", "sasrec"]
    assert doc["machine"] and all("cpu" in m for m in doc["machine"].values())
    [new] = [r for r in doc["runs"] if r["row"] == "cd-sasrec"]
    assert doc["machine"][new["machine"]]["threads"] == 1  # the new run names the machine it ran on
    paper_table.run_all(args)  # nothing left to do
    assert len(trained) == 1


def test_two_stores_whose_llm_labelled_the_same_items_differently_have_different_semantic_inputs(tmp_path):
    from semantic_fixtures import make_store

    from semacdr_cli.store import semantic as sem

    def labelled(path, pick):
        store = make_store(path)
        tax = sem.get_taxonomy(store, 1)
        subs = [s["id"] for c in sem.taxonomy_tree(store, tax["id"]) for s in c["subcategories"]]
        with store.transaction() as c:
            for item in store.query("SELECT id FROM items"):
                labels = [subs[pick(item["id"]) % len(subs)]]
                row = {"item_id": item["id"], "taxonomy_id": tax["id"], "status": "ok", "labels": labels,
                       "attempts": 1, "model": "m", "backend": "b", "prompt_hash": "p", "schema_hash": "s"}  # fmt: skip
                sem.upsert_annotation(c, row, labels)
        store.close()
        return paper_table.semantic_inputs(str(path))

    same = labelled(tmp_path / "a.db", lambda i: i)
    other = labelled(tmp_path / "b.db", lambda i: i + 1)
    assert same["domains"]["food"]["methods"] == other["domains"]["food"]["methods"] == {"generate": 8}
    assert paper_table.fingerprint(same) == paper_table.fingerprint(labelled(tmp_path / "c.db", lambda i: i))
    assert paper_table.fingerprint(same) != paper_table.fingerprint(other)


def test_ab_table_pairs_each_arm_with_paper_by_seed_and_never_across_semantic_inputs():
    import ab

    def rec(arm, seed, sampled, full, inputs="fp1"):
        return {
            "arm": arm, "direction": "kitchen:food", "seed": seed, "semantics": inputs,
            "sampled": {"ndcg@10": sampled, "hr@10": sampled + 0.1}, "full": {"ndcg@10": full},
            "train": {"epochs": 40, "hit_cap": False},
        }  # fmt: skip

    doc = {
        "runs": [
            rec("paper", 42, 0.30, 0.050),
            rec("paper", 43, 0.32, 0.052),
            rec("paper", 44, 0.31, 0.049),
            rec("fixes", 42, 0.33, 0.070),
            rec("fixes", 43, 0.36, 0.071),
            rec("fixes", 44, 0.34, 0.069),
            rec("fixes", 45, 0.99, 0.990, inputs="fp0"),  # other inputs: never in the table
        ]
    }
    doc["runs"].insert(0, doc["runs"].pop())  # the latest inputs are the last run's
    rows = {r["arm"]: r for r in ab.table(doc, "kitchen:food")}
    assert rows["fixes"]["seeds"] == [42, 43, 44]
    sampled = rows["fixes"]["sampled ndcg@10"]
    assert sampled["change_pct"] == pytest.approx(100 * ((0.33 + 0.36 + 0.34) / 3 / 0.31 - 1))
    assert sampled["pairs"] == 3 and sampled["p"] < 0.01
    assert "change_pct" not in rows["paper"]["sampled ndcg@10"]
    text = ab.markdown(doc)
    assert "| `fixes` |" in text and "+10.8 %" in text


def test_ab_leave_one_out_arms_are_read_against_fixes_not_paper():
    import ab

    def rec(arm, seed, sampled):
        return {
            "arm": arm, "direction": "kitchen:food", "seed": seed, "semantics": "fp1",
            "sampled": {"ndcg@10": sampled, "hr@10": sampled}, "full": {"ndcg@10": sampled / 5},
            "train": {"epochs": 40, "hit_cap": False},
        }  # fmt: skip

    doc = {"runs": [rec("paper", s, 0.30) for s in (42, 43)] + [rec("fixes", s, 0.40) for s in (42, 43)]}
    doc["runs"] += [rec("fixes-paper-select", 42, 0.42), rec("fixes-paper-select", 43, 0.42)]
    rows = {r["arm"]: r for r in ab.table(doc, "kitchen:food")}
    assert rows["fixes-paper-select"]["against"] == "fixes" and rows["fixes"]["against"] == "paper"
    assert rows["fixes-paper-select"]["sampled ndcg@10"]["change_pct"] == pytest.approx(5.0)
    assert rows["fixes"]["sampled ndcg@10"]["change_pct"] == pytest.approx(100 * (0.40 / 0.30 - 1))
    preset, keys, _ = ab.ARMS["fixes-paper-select"]
    assert preset == "fixes" and keys == {"select_metric": "sampled:ndcg@10"}


def test_a_table_under_one_loss_trains_every_row_with_it_apart_from_the_paper_table(tmp_path, monkeypatch):
    from types import SimpleNamespace

    out = tmp_path / "fk.json"
    legacy = _run("sasrec", 42, 0.3, 0.5)  # recorded before tables had names: the paper table's
    out.write_text(json.dumps({"runs": [legacy], "stages": {}}))
    trained = _fake_trainer(monkeypatch, lambda kw: (kw["model"], kw["preset"], kw["overrides"].get("loss")))

    def args(rows, loss):
        return SimpleNamespace(
            out=out, store="s.db", rows=rows, directions="kitchen:food", seeds=1, first_seed=42,
            epochs=None, runs_dir=str(tmp_path / "runs"), threads=1, preset="paper", loss=loss,
        )  # fmt: skip

    with pytest.raises(SystemExit, match="semacdr-softmax"):  # a loss-only row would repeat semacdr
        paper_table.run_all(args("sasrec,semacdr-softmax", "full"))
    paper_table.run_all(args("sasrec,no-semantics", "full"))
    # sasrec seed 42 of the paper table does not count in the full-loss table
    assert trained == [("sasrec", "paper", "full"), ("semacdr", "paper", "full")]
    doc = json.loads(out.read_text())
    old, new_sasrec, new_sema = doc["runs"]
    assert (old["table"], old["preset"], old["loss"]) == ("paper", "paper", "softmax")  # marked, kept
    assert (new_sasrec["table"], new_sasrec["loss"]) == ("paper, loss full", "full")
    assert (new_sema["table"], new_sema["loss"]) == ("paper, loss full", "full")
    paper_table.run_all(args("sasrec", None))  # the paper table already has it
    assert len(trained) == 2


def test_a_table_under_one_selection_metric_stops_every_row_on_it_and_is_a_table_of_its_own(
    tmp_path, monkeypatch
):
    from types import SimpleNamespace

    out = tmp_path / "fk.json"
    out.write_text(json.dumps({"runs": [], "stages": {}}))
    trained = _fake_trainer(monkeypatch, lambda kw: (kw["model"], kw["overrides"].get("select_metric")))

    def args(select):
        return SimpleNamespace(
            out=out, store="s.db", rows="sasrec,cd-sasrec", directions="food:kitchen", seeds=1, first_seed=42,
            epochs=None, runs_dir=str(tmp_path / "runs"), threads=1, preset="fixes", loss=None,
            select_metric=select,
        )  # fmt: skip

    paper_table.run_all(args(None))
    paper_table.run_all(args("sampled:ndcg@10"))  # the same rows and seed: another table, so trained again
    assert trained == [("sasrec", None), ("cd-sasrec", None)] + [
        (m, "sampled:ndcg@10") for m in ("sasrec", "cd-sasrec")
    ]
    tables = [(r["table"], r.get("select_metric")) for r in json.loads(out.read_text())["runs"]]
    assert tables == [("fixes", None)] * 2 + [("fixes, select sampled:ndcg@10", "sampled:ndcg@10")] * 2
    paper_table.run_all(args("sampled:ndcg@10"))  # finished: nothing trains
    assert len(trained) == 4


def test_legacy_runs_are_marked_with_the_loss_their_model_trained_with_under_the_paper_preset():
    doc = {
        "runs": [
            _run("semacdr", 42, 0.3, 0.5),
            _run("sasrec", 42, 0.3, 0.5),
            _run("semacdr-softmax", 42, 0.3, 0.5),
        ]
    }
    paper_table.mark_tables(doc)
    assert [(r["table"], r["loss"]) for r in doc["runs"]] == [
        ("paper", "bpr"),  # the paper's Eq. 13
        ("paper", "softmax"),  # the baselines' sampled softmax
        ("paper", "softmax"),  # the row's own override
    ]


def test_runs_of_two_tables_are_rendered_in_blocks_of_their_own_and_never_averaged(doc):
    fixes = [{**_run("semacdr", s, 0.50, 0.70), "table": "fixes", "loss": "full"} for s in (42, 43)]
    fixes += [{**_run("sasrec", s, 0.20, 0.40), "table": "fixes", "loss": "full"} for s in (42, 43)]
    text = render({**doc, "runs": doc["runs"] + fixes}, paper_table.ROWS, paper_table.BASELINES)
    fixes_block, paper_block = text.split("**Table `paper`**")
    assert "**Table `fixes`**" in fixes_block and "losses: full" in fixes_block
    sema = [line for line in fixes_block.splitlines() if line.startswith("| SemaCDR |")]
    assert sema and "0.5000 ± 0.0000" in sema[0]  # the fixes runs alone
    paper_sema = [line for line in paper_block.splitlines() if line.startswith("| SemaCDR |")]
    assert paper_sema and "0.3800 ± 0.0283" in paper_sema[0]  # 0.36 and 0.40: the paper runs alone


def test_a_table_with_inputs_of_its_own_trains_its_semantic_rows_on_them_and_leaves_the_paper_table_alone(
    doc, tmp_path, monkeypatch
):
    from types import SimpleNamespace

    def inputs(labels):
        domain = {"annotated": 5, "methods": {"score": 5}, "labels_digest": labels, "texts_digest": "T"}
        return {"taxonomy": {"origin": "induced", "categories": {"Genre": ["A", "B"]}},
                "domains": {"food": domain, "kitchen": domain}}  # fmt: skip

    recorded, rebuilt = inputs("L1"), inputs("L2")  # the store was labelled again elsewhere
    doc["semantics"] = {**recorded, "fingerprint": paper_table.fingerprint(recorded)}
    out = tmp_path / "fk.json"
    out.write_text(json.dumps(doc))
    monkeypatch.setattr(paper_table, "semantic_inputs", lambda s: rebuilt)
    trained = _fake_trainer(monkeypatch, lambda kw: (kw["model"], kw["preset"]))

    def args(preset, table_inputs):
        return SimpleNamespace(
            out=out, store="s.db", rows="semacdr", directions="kitchen:food", seeds=1, first_seed=42,
            epochs=None, runs_dir=str(tmp_path / "runs"), threads=1, preset=preset, loss=None,
            table_inputs=table_inputs,
        )  # fmt: skip

    with pytest.raises(SystemExit, match="not the ones the results file records"):
        paper_table.run_all(args("fixes", False))  # without the switch: the file's inputs, which differ
    with pytest.raises(SystemExit, match="the paper table's inputs are the file's"):
        paper_table.run_all(args("paper", True))
    paper_table.run_all(args("fixes", True))
    assert trained == [("semacdr", "fixes")]
    saved = json.loads(out.read_text())
    mine = paper_table.fingerprint(rebuilt)
    assert saved["table_semantics"]["fixes"]["fingerprint"] == mine
    assert saved["semantics"]["fingerprint"] == paper_table.fingerprint(recorded)  # the paper table's, kept
    [fixes_run] = [r for r in saved["runs"] if r.get("table") == "fixes"]
    assert fixes_run["semantics"] == mine and fixes_run in paper_table.current_runs(saved, "fixes")
    paper = paper_table.current_runs(saved, "paper")
    assert len(paper) == len(doc["runs"])  # the paper table's semantic runs still count
    # a table whose semantic rows rest on its inputs refuses other ones
    saved["runs"].append({**fixes_run, "seed": 43})
    with pytest.raises(SystemExit, match="rest on its inputs"):
        paper_table.adopt_store_inputs(saved, "fixes", recorded)
    text = render(paper_table.tables_doc(saved), paper_table.ROWS, paper_table.BASELINES)
    assert f"semantic rows on this table's own inputs `{mine}`" in text
    assert f"Table `fixes`'s semantic inputs `{mine}`" in text


def test_another_labellers_inputs_are_built_with_its_model_and_train_a_table_of_their_own(
    doc, tmp_path, monkeypatch
):
    import subprocess
    from types import SimpleNamespace

    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout=json.dumps({"done": 1}), stderr="")

    recorded = {"taxonomy": {"categories": {"Genre": ["A"]}}, "domains": {"food": {"labels_digest": "L1"}}}
    built = {"taxonomy": {"categories": {"Material": ["B"]}}, "domains": {"food": {"labels_digest": "L2"}}}
    doc["semantics"] = {**recorded, "fingerprint": paper_table.fingerprint(recorded)}
    doc["stages"] = {"taxonomy induce": {"seconds": 5.0}}
    out = tmp_path / "fk.json"
    out.write_text(json.dumps(doc))
    monkeypatch.setattr(paper_table_prepare, "run_stage", fake_run)
    monkeypatch.setattr(paper_table, "semantic_inputs", lambda store: built)
    paper_table_prepare.prepare("s.db", out, distill=10, threads=1, model="big.gguf", labeller="big")
    llm_stages = [c for c in calls if "induce" in c or "annotate" in c]
    assert len(llm_stages) == 3 and all(c[c.index("--model") + 1] == "big.gguf" for c in llm_stages)
    assert not any("--model" in c for c in calls if "embed" in c)
    saved = json.loads(out.read_text())
    assert saved["semantics"]["fingerprint"] == paper_table.fingerprint(recorded)  # the file's inputs stay
    assert saved["stages"] == {"taxonomy induce": {"seconds": 5.0}}
    assert saved["labeller_stages"]["big"]["annotate food"]["model"] == "big.gguf"
    trained = _fake_trainer(monkeypatch, lambda kw: (kw["model"], kw["preset"]))
    args = SimpleNamespace(
        out=out, store="s.db", rows="semacdr", directions="kitchen:food", seeds=1, first_seed=42, epochs=None,
        runs_dir=str(tmp_path / "runs"), threads=1, preset="fixes", loss=None, table_inputs=True, labeller="big",
    )  # fmt: skip
    paper_table.run_all(args)
    saved = json.loads(out.read_text())
    assert trained == [("semacdr", "fixes")]
    assert saved["table_semantics"]["fixes, labels big"]["fingerprint"] == paper_table.fingerprint(built)
    [run] = [r for r in saved["runs"] if r.get("table") == "fixes, labels big"]
    assert run["semantics"] == paper_table.fingerprint(built)
    assert len(paper_table.current_runs(saved, "paper")) == len(doc["runs"])  # the paper table's runs stay
    text = render(paper_table.tables_doc(saved), paper_table.ROWS, paper_table.BASELINES)
    assert (
        "**Table `fixes, labels big`**" in text
        and "Stages of the inputs of `labels big` (`--model big.gguf`)" in text
    )


def test_a_killed_labeller_build_resumes_at_its_unfinished_stages_and_counts_the_killed_attempts_time(
    tmp_path, monkeypatch
):
    import subprocess

    import semacdr_cli.machine

    clock = iter(range(0, 10_000, 100))  # every reading of the clock is 100 s after the one before
    monkeypatch.setattr(paper_table_prepare.time, "perf_counter", lambda: float(next(clock)))
    monkeypatch.setattr(semacdr_cli.machine, "available_cores", lambda: 1)
    monkeypatch.setattr(paper_table, "semantic_inputs", lambda store: {"taxonomy": {}, "domains": {}})
    calls = []

    def killed_in_annotate(cmd, *, env, tick=None):
        calls.append(" ".join(cmd[cmd.index("--json") + 1 :][:3]))
        if "annotate" in cmd:
            tick()  # it ran a while, then the job was killed
            raise KeyboardInterrupt
        return subprocess.CompletedProcess(cmd, 0, stdout="{}", stderr="")

    out = tmp_path / "fk.json"
    monkeypatch.setattr(paper_table_prepare, "run_stage", killed_in_annotate)
    with pytest.raises(KeyboardInterrupt):
        paper_table_prepare.prepare("s.db", out, distill=10, threads=1, model="big.gguf", labeller="big")
    noted = json.loads(out.read_text())["labeller_stages"]["big"]
    assert noted["taxonomy induce"]["seconds"] == 100 and noted["annotate food"]["interrupted"] == [100]
    text = render({"runs": [], "labeller_stages": {"big": noted}}, paper_table.ROWS, paper_table.BASELINES)
    assert (
        "| annotate food | 100 s so far | – | unfinished (running, or stopped: a rerun resumes it) |" in text
    )
    with pytest.raises(SystemExit, match="built with --model big.gguf"):
        paper_table_prepare.prepare("s.db", out, distill=10, threads=1, model="other.gguf", labeller="big")

    calls.clear()
    monkeypatch.setattr(paper_table_prepare, "_ATTEMPT", "the rerun")
    monkeypatch.setattr(paper_table_prepare, "run_stage", lambda cmd, **kw: calls.append(cmd[-5]) or
                        subprocess.CompletedProcess(cmd, 0, stdout="{}", stderr=""))  # fmt: skip
    paper_table_prepare.prepare("s.db", out, distill=10, threads=1, model="big.gguf", labeller="big")
    stages = json.loads(out.read_text())["labeller_stages"]["big"]
    assert "taxonomy" not in " ".join(map(str, calls))  # finished before: not run again
    assert stages["taxonomy induce"]["seconds"] == 100
    assert stages["annotate food"]["seconds"] == 200 and stages["annotate food"]["attempts"] == [100, 100]
    assert "attempts" not in stages["annotate kitchen"] and "interrupted" not in stages["annotate food"]


def test_a_labeller_build_resumes_only_in_a_store_holding_its_taxonomy_and_new_inputs_start_it_again(
    tmp_path, monkeypatch
):
    import subprocess

    import semacdr_cli.machine
    from semacdr_cli.errors import SemacdrError

    monkeypatch.setattr(semacdr_cli.machine, "available_cores", lambda: 1)
    built = {"name": "Kind", "subcategories": ["Tea", "Pan"]}
    out = tmp_path / "fk.json"
    stages = {"taxonomy induce": {"seconds": 9.0, "model": "big.gguf", "summary": {"categories": [built]}}}
    out.write_text(json.dumps({"runs": [], "labeller_stages": {"big": stages}}))
    calls = []
    monkeypatch.setattr(paper_table_prepare, "run_stage", lambda cmd, **kw: calls.append(cmd[cmd.index("--json") + 1]) or
                        subprocess.CompletedProcess(cmd, 0, stdout="{}", stderr=""))  # fmt: skip

    def fresh_store(store):
        raise SemacdrError("this dataset has no taxonomy yet")

    for held in (fresh_store, lambda store: {"categories": {"Kind": ["Tea"]}}):
        monkeypatch.setattr(paper_table_prepare, "store_taxonomy", held)
        with pytest.raises(SystemExit, match="does not hold .* add --new-inputs"):
            paper_table_prepare.prepare("s.db", out, distill=10, threads=1, model="big.gguf", labeller="big")
    assert calls == [] and json.loads(out.read_text())["labeller_stages"]["big"] == stages

    monkeypatch.setattr(
        paper_table_prepare, "store_taxonomy", lambda store: {"categories": {"Kind": ["Tea", "Pan"]}}
    )
    paper_table_prepare.prepare("s.db", out, distill=10, threads=1, model="big.gguf", labeller="big")
    assert "taxonomy" not in calls  # the store holds it: the build resumes after it

    calls.clear()
    monkeypatch.setattr(paper_table_prepare, "store_taxonomy", fresh_store)
    paper_table_prepare.prepare(
        "s.db", out, distill=10, threads=1, model="big.gguf", labeller="big", new_inputs=True
    )
    assert calls[0] == "taxonomy" and len(calls) == 5  # every stage again, in this store
    assert json.loads(out.read_text())["labeller_stages"]["big"]["taxonomy induce"]["summary"] == {}


def test_selection_reads_what_full_ranking_selection_gives_up_on_sampled_from_the_run_folder(tmp_path):
    import selection

    lines = [{"epoch": 0, "loss": {"loss": 9.0}}]  # an epoch without validation is no point
    for epoch, sampled, full in ((4, 0.30, 0.020), (9, 0.34, 0.028), (14, 0.32, 0.033), (19, 0.31, 0.031)):
        lines.append({"epoch": epoch, "valid": {"ndcg@10": sampled}, "valid_full": {"ndcg@10": full}})
    (tmp_path / "run-0007").mkdir()
    (tmp_path / "run-0007" / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    doc = {"runs": [{"row": "semacdr", "direction": "food:kitchen", "seed": 42, "run": 7, "table": "fixes"},
                    {"row": "semacdr", "direction": "food:kitchen", "seed": 43, "run": 8, "table": "fixes"}]}  # fmt: skip
    [row] = selection.table(doc, [tmp_path / "elsewhere", tmp_path], "fixes", None)  # run 8 has no folder
    assert row["seeds"] == [42]
    assert row["full_selected"] == {"sampled": 0.32, "full": 0.033} and row["epochs_full"] == [15]
    assert row["sampled_best"] == {"sampled": 0.34, "full": 0.028} and row["epochs_sampled"] == [10]
    assert selection.table(doc, [tmp_path], "paper", None) == []  # another table's runs are not read


def test_p_cells_name_their_seed_count_when_best_baselines_share_different_seeds(doc):
    doc["runs"] += [
        _run("cd-sasrec", 44, 0.34, 0.54),
        _run("semacdr", 44, 0.38, 0.58),
        _run("cl4srec", 42, 0.45, 0.40),  # best on N@k, two seeds shared with SemaCDR
        _run("cl4srec", 43, 0.47, 0.42),
    ]
    text = render(doc, paper_table.ROWS, paper_table.BASELINES)
    lines = text.splitlines()
    impr = next(i for i, line in enumerate(lines) if "RelaImpr of SemaCDR over the best baseline" in line)
    assert "% vs cl4srec" in lines[impr] and "% vs cd-sasrec" in lines[impr]
    p_cells = [c.strip() for c in lines[impr + 1].strip("|").split("|")]
    assert p_cells[0] == "p, paired t-test over 2–3 seeds"
    assert p_cells[2].endswith("(2 seeds)") and p_cells[4].endswith("(3 seeds)")  # N@10 / HR@10
