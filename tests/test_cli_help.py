"""Every command's help ends with an example and names its doc; commands are listed in pipeline order;
piped tables keep whole numbers."""

from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from semacdr_cli.app import app

ROOT_ORDER = [
    "data",
    "taxonomy",
    "annotate",
    "labels",
    "embed",
    "inspect",
    "train",
    "eval",
    "runs",
    "report",
    "demo",
]


def leaf_commands(group=None, prefix=()):
    group = group or typer.main.get_command(app)
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from leaf_commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_command_help_has_an_example_and_names_an_existing_doc():
    runner = CliRunner()
    missing = []
    for path in leaf_commands():
        out = runner.invoke(app, [*path, "--help"], terminal_width=200).output
        docs = re.findall(r"docs: (docs/[\w.-]+\.md|README\.md)", out)
        if "Example" not in out or not docs:
            missing.append(" ".join(path))
    assert not missing, missing


def test_the_root_help_lists_commands_in_pipeline_order():
    out = CliRunner().invoke(app, ["--help"], terminal_width=200).output
    found = [name for name in ROOT_ORDER if re.search(rf"│ {name}\s", out)]
    assert found == ROOT_ORDER
    positions = [re.search(rf"│ {name}\s", out).start() for name in ROOT_ORDER]
    assert positions == sorted(positions)


def test_piped_tables_are_not_cut(tmp_path):
    import subprocess
    import sys

    from data_helpers import FIXTURES, SMALL_FILTERS, cli

    db = tmp_path / "s.db"
    assert (
        cli(
            "data",
            "import",
            "csv",
            FIXTURES / "csv",
            *SMALL_FILTERS,
            "--db",
            db,
            "--name",
            "a-rather-long-dataset-name-that-would-not-fit-in-eighty-columns",
        ).exit_code
        == 0
    )
    out = subprocess.run(
        [sys.executable, "-m", "semacdr_cli", "data", "stats", "--db", str(db)],
        check=True,
        capture_output=True,
        text=True,
        env={"COLUMNS": "80", "PATH": ""},
    ).stdout
    assert "…" not in out and "a-rather-long-dataset-name-that-would-not-fit-in-eighty-columns" in out
    lines = [ln for ln in out.splitlines() if ln.strip().startswith(("food", "kitchen"))]
    assert lines and all(len(ln.split()) >= 10 for ln in lines)  # every column whole, none folded away


def test_global_options_work_before_or_after_the_command_and_quiet_silences_tables(tmp_path):
    import json

    from data_helpers import FIXTURES, SMALL_FILTERS, cli

    db = tmp_path / "s.db"
    assert cli("data", "import", "csv", FIXTURES / "csv", *SMALL_FILTERS, "--db", db).exit_code == 0
    before = cli("--db", db, "--json", "data", "list")
    after = cli("data", "list", "--db", db, "--json")
    assert before.exit_code == after.exit_code == 0
    assert json.loads(before.output) == json.loads(after.output) and json.loads(after.output)
    quiet = cli("-q", "data", "stats", "--db", db)
    assert quiet.exit_code == 0 and quiet.output.strip() == ""
    loud = cli("data", "stats", "--db", db)
    assert "users" in loud.output
    # declared once: the commands' own code never declares --db or --json
    from pathlib import Path

    for path in (Path(__file__).resolve().parent.parent / "semacdr_cli" / "cli").glob("*.py"):
        if path.name != "common.py":
            text = path.read_text()
            assert '"--db"' not in text and '"--json"' not in text, path.name
