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
    assert result.exit_code != 0
