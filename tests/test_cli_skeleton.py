import subprocess
import sys

from typer.testing import CliRunner

from semacdr_cli.app import app
from semacdr_cli.store import Store


def test_help_lists_every_command_group():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ["data", "taxonomy", "annotate", "embed", "train", "eval", "inspect", "demo"]:
        assert group in result.output


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from semacdr_cli.app import app; "
        "heavy = [m for m in ('torch', 'transformers', 'vllm', 'sentence_transformers') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_store_migrations_are_recorded_and_idempotent(db_path):
    with Store(db_path) as s:
        first = s.schema_version()
        assert first >= 3
    with Store(db_path) as s:
        assert s.migrate() == []
        versions = [r[0] for r in s.query("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == list(range(1, first + 1))
        assert s.one("PRAGMA journal_mode")[0] == "wal"
        assert s.one("PRAGMA foreign_keys")[0] == 1


def test_a_file_that_is_not_sqlite_is_reported_in_one_line(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_text("this is not a database\n" * 100)
    result = CliRunner().invoke(app, ["data", "stats", "--db", str(bad)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)  # handled, not raised
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and str(bad) in lines[0], result.output


def test_an_old_store_upgrades_in_place_keeping_its_rows(tmp_path):
    import sqlite3

    import sqlite_utils

    from semacdr_cli.store.migrations import MIGRATIONS

    old = tmp_path / "old.db"
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    db = sqlite_utils.Database(conn)
    for m in MIGRATIONS[:3]:  # a store written before migration 4
        m.apply(db)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (m.version, m.name))
    conn.execute("INSERT INTO datasets (name, format, created_at) VALUES ('kept', 'csv', 'then')")
    conn.close()
    with Store(old) as s:
        assert s.schema_version() == len(MIGRATIONS) >= 4
        assert {"prob", "source"} <= set(s.db["annotation_labels"].columns_dict)
        assert {"method", "label_probs"} <= set(s.db["annotations"].columns_dict)
        assert [r["name"] for r in s.datasets()] == ["kept"]


def test_migrations_are_registered_in_order_by_decorator():
    import pytest

    from semacdr_cli.store import migrations as mig

    assert [m.version for m in mig.MIGRATIONS] == list(range(1, len(mig.MIGRATIONS) + 1))
    with pytest.raises(RuntimeError, match="out of order"):
        mig.migration(len(mig.MIGRATIONS) + 5, "a gap")(lambda db: None)
