"""Errors a user can meet from a library the CLI drives are one line, a non-zero exit, no traceback:
a store locked by another writer past the busy timeout, and an OpenAI-compatible server's HTTP error."""

from __future__ import annotations

import sqlite3

from data_helpers import FIXTURES, SMALL_FILTERS, cli
from semantic_fixtures import make_store
from test_llm_openai import FakeServer


def _one_line(result) -> str:
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_store_locked_by_another_writer_is_one_line_naming_the_store(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    assert (
        cli("data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--db", db, "--name", "a").exit_code
        == 0
    )
    monkeypatch.setenv("SEMACDR_BUSY_TIMEOUT", "0.2")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process mid-transaction
    try:
        line = _one_line(
            cli("--db", db, "data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--name", "b")
        )  # the global --db before the command: the message still names the store
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "locked" in line and str(db) in line and "SEMACDR_BUSY_TIMEOUT" in line


def test_an_openai_server_http_error_with_a_repetition_penalty_is_one_line(tmp_path):
    store = make_store(tmp_path / "s.db")
    store.close()
    with FakeServer(status=400) as srv:
        result = cli(
            "annotate",
            "--domain",
            "food",
            "--db",
            tmp_path / "s.db",
            "--backend",
            "openai",
            "--base-url",
            srv.url,
            "--model",
            "m",
            "--method",
            "generate",
            "--repetition-penalty",
            "1.2",
            "--no-describe",
            "--retries",
            "0",
        )
    line = _one_line(result)
    assert "HTTP 400" in line and srv.url in line
