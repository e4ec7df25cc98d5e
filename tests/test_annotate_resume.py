"""kill -9 in the middle of `annotate`, run it again: no lost and no duplicated rows."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from doubles import FakeBackend
from semantic_fixtures import make_store

from semacdr_cli.annotate.domain import annotate_domain
from semacdr_cli.config import AnnotateConfig, OutlierConfig
from semacdr_cli.store import Store

TESTS = Path(__file__).parent
N = 30

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from doubles import FakeBackend
    from semacdr_cli.annotate.domain import annotate_domain
    from semacdr_cli.config import AnnotateConfig, OutlierConfig
    from semacdr_cli.store import Store

    store = Store({db!r})
    cfg = AnnotateConfig(method="generate", domain="food", batch_size=2, outliers=OutlierConfig(min_items=5))
    annotate_domain(store, 1, FakeBackend(delay=0.25), cfg)
    """
)


def _count(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT count(*) FROM annotations").fetchone()[0]
    finally:
        conn.close()


def test_kill_9_mid_run_then_rerun_finishes_with_no_lost_and_no_duplicated_rows(tmp_path):
    db = tmp_path / "s.db"
    make_store(db, n_food=N).close()
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT.format(tests=str(TESTS), db=str(db))])
    try:
        deadline = time.time() + 60
        while _count(db) < 6:  # at least three batches committed
            assert proc.poll() is None, "the annotate run ended before it could be killed"
            assert time.time() < deadline, "no batch committed within 60 s"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    committed = _count(db)
    assert 6 <= committed < N  # killed mid-run, every committed batch whole
    assert committed % 2 == 0

    store = Store(db)
    fake = FakeBackend()
    s = annotate_domain(
        store,
        1,
        fake,
        AnnotateConfig(method="generate", domain="food", batch_size=2, outliers=OutlierConfig(min_items=5)),
    )
    assert s.skipped == committed
    assert s.done + s.cached <= N  # nothing committed was generated again
    assert len(fake.calls) <= N - committed
    total, distinct = store.one("SELECT count(*), count(DISTINCT item_id) FROM annotations")
    assert total == distinct == N
    assert store.one("SELECT count(*) FROM annotations WHERE status != 'ok'")[0] == 0
    for r in store.query("SELECT id, labels FROM annotations"):
        n = store.one("SELECT count(*) FROM annotation_labels WHERE annotation_id = ?", (r["id"],))[0]
        assert n == sum(len(v) for v in json.loads(r["labels"]).values())
    assert all(json.loads(r[0])["checked"] for r in store.query("SELECT outliers FROM annotations"))
