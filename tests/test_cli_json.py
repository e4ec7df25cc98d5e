"""`--json` keeps its shape: the key paths of a few commands' JSON match those recorded before the CLI
moved to one output renderer (tests/fixtures/cli_json_keys.json, written by the CLI at 8e9cba9)."""

from __future__ import annotations

import json
from pathlib import Path

from semantic_fixtures import make_store
from typer.testing import CliRunner

from semacdr_cli.app import app

SNAPSHOT = Path(__file__).parent / "fixtures" / "cli_json_keys.json"
COMMANDS = {
    "data stats": ["data", "stats"],
    "data list": ["data", "list"],
    "taxonomy show": ["taxonomy", "show"],
    "inspect item": ["inspect", "item", "1"],
    "runs list": ["runs", "list"],
}


def key_paths(obj, prefix: str = "") -> list[str]:
    """Every key path of a JSON value (lists by their first element), sorted."""
    out: set[str] = set()
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.add(f"{prefix}/{k}")
            out.update(key_paths(v, f"{prefix}/{k}"))
    elif isinstance(obj, list) and obj:
        out.update(key_paths(obj[0], prefix + "[]"))
    return sorted(out)


def json_keys(db: str) -> dict[str, list[str]]:
    runner = CliRunner()
    keys = {}
    for name, args in COMMANDS.items():
        res = runner.invoke(app, [*args, "--db", db, "--json"])
        assert res.exit_code == 0, res.output
        keys[name] = key_paths(json.loads(res.stdout))  # stdout is the JSON and nothing else
    return keys


def test_json_output_of_commands_keeps_the_keys_it_had(tmp_path):
    make_store(tmp_path / "s.db").close()
    assert json_keys(str(tmp_path / "s.db")) == json.loads(SNAPSHOT.read_text())


if __name__ == "__main__":  # rewrite the snapshot (only with the CLI whose keys are the reference)
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        make_store(Path(tmp) / "s.db").close()
        SNAPSHOT.write_text(json.dumps(json_keys(str(Path(tmp) / "s.db")), indent=1) + "\n")
    sys.exit(0)


def test_a_command_that_declares_a_global_option_is_refused():
    import pytest

    from semacdr_cli.cli.common import App

    group = App()
    with pytest.raises(TypeError, match="global option"):

        @group.command("x")
        def x(db: str = "a.db") -> None:  # pragma: no cover - never runs
            pass
