"""Jobs side by side on one store, each in a process of its own: two annotate jobs on one domain, an
annotate beside a train, two imports. No corrupt row, no lost or doubled work, and a job that must
wait for another's write lock says so in one line."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3

import pytest
from data_helpers import FIXTURES, SMALL_FILTERS, cli
from doubles import FakeBackend
from semantic_fixtures import TAXONOMY, make_store
from trainer_synth import build_store

from semacdr_cli.store import Store

CTX = mp.get_context("fork")


def _annotate(db: str, domain: str, delay: float) -> None:
    from semacdr_cli.annotate.domain import annotate_domain
    from semacdr_cli.config import AnnotateConfig, OutlierConfig

    with Store(db) as store:
        ds = store.query("SELECT id FROM datasets ORDER BY id LIMIT 1")[0]["id"]
        cfg = AnnotateConfig(
            method="generate", domain=domain, batch_size=2, outliers=OutlierConfig(enabled=False)
        )
        annotate_domain(store, ds, FakeBackend(delay=delay), cfg)


def _train(db: str, runs: str) -> None:
    from trainer import api

    api.train(db, target="food", source="kitchen", model="sasrec", epochs=2, repeat=1, progress=False,
              runs_dir=runs, overrides={"hidden": 16, "threads": 1})  # fmt: skip


def _import(db: str, name: str) -> int:
    return cli(
        "data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--db", db, "--name", name
    ).exit_code


def side_by_side(*calls) -> list[int]:
    procs = [CTX.Process(target=f, args=a) for f, a in calls]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    return [p.exitcode for p in procs]


def assert_sound(db) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # every stored annotation's label rows are exactly its labels, once each
        for aid, labels in conn.execute("SELECT id, labels FROM annotations WHERE status = 'ok'"):
            n = conn.execute(
                "SELECT COUNT(*) FROM annotation_labels WHERE annotation_id = ?", (aid,)
            ).fetchone()[0]
            assert n == sum(len(v) for v in json.loads(labels).values())
    finally:
        conn.close()


def test_two_annotate_jobs_on_one_domain_leave_one_valid_annotation_per_item(tmp_path):
    db = tmp_path / "s.db"
    make_store(db, n_food=24).close()
    assert side_by_side((_annotate, (str(db), "food", 0.02)), (_annotate, (str(db), "food", 0.02))) == [0, 0]
    conn = sqlite3.connect(db)
    per_item = conn.execute(
        "SELECT i.id, COUNT(a.id), MIN(a.status) FROM items i JOIN domains d ON d.id = i.domain_id "
        "LEFT JOIN annotations a ON a.item_id = i.id WHERE d.name = 'food' GROUP BY i.id"
    ).fetchall()
    conn.close()
    assert len(per_item) == 24 and all(n == 1 and status == "ok" for _, n, status in per_item)
    assert_sound(db)


def test_an_annotate_job_beside_a_training_run_both_finish_complete(tmp_path):
    db = tmp_path / "s.db"
    build_store(db, users=120, semantics=False)
    with Store(db) as s:
        from semacdr_cli.store import semantic as sem

        sem.insert_taxonomy(s, 1, TAXONOMY, origin="imported")
    codes = side_by_side((_annotate, (str(db), "food", 0.01)), (_train, (str(db), str(tmp_path / "runs"))))
    assert codes == [0, 0]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM runs").fetchall() == [("finished",)]
    items = conn.execute(
        "SELECT COUNT(*) FROM items i JOIN domains d ON d.id = i.domain_id WHERE d.name = 'food'"
    )
    assert conn.execute("SELECT COUNT(*) FROM annotations").fetchone()[0] == items.fetchone()[0]
    conn.close()
    assert_sound(db)


def _import_exit(db: str, name: str) -> None:
    raise SystemExit(_import(db, name))


def test_two_imports_side_by_side_both_land_whole(tmp_path):
    db = tmp_path / "s.db"
    Store(db).close()
    assert side_by_side((_import_exit, (str(db), "a")), (_import_exit, (str(db), "b"))) == [0, 0]
    conn = sqlite3.connect(db)
    counts = dict(conn.execute(
        "SELECT s.name, COUNT(*) FROM interactions i JOIN domains d ON d.id = i.domain_id "
        "JOIN datasets s ON s.id = d.dataset_id GROUP BY s.name"))  # fmt: skip
    conn.close()
    assert set(counts) == {"a", "b"} and counts["a"] == counts["b"] > 0
    assert_sound(db)


def test_two_imports_of_one_name_one_lands_the_other_is_refused_in_one_line(tmp_path):
    db = tmp_path / "s.db"
    Store(db).close()
    codes = side_by_side((_import_exit, (str(db), "same")), (_import_exit, (str(db), "same")))
    assert sorted(codes) == [0, 1]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM datasets WHERE name = 'same'").fetchone()[0] == 1
    conn.close()
    assert_sound(db)


def test_a_job_that_must_wait_for_the_write_lock_says_so_once(tmp_path, capfd, monkeypatch):
    db = tmp_path / "s.db"
    Store(db).close()
    monkeypatch.setenv("SEMACDR_BUSY_TIMEOUT", "0.5")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with Store(db) as s, pytest.raises(sqlite3.OperationalError, match="locked"), s.transaction():
            pass
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capfd.readouterr().err
    assert err.count("waiting for another job writing") == 1 and "SEMACDR_BUSY_TIMEOUT" in err
