"""`--config FILE.toml` for the semantic jobs: file values fill the options not given on the command
line, the command line wins, and a bad file is one line before any model loads."""

from __future__ import annotations

from data_helpers import cli
from semantic_fixtures import make_store


def _store(tmp_path):
    make_store(tmp_path / "s.db").close()
    return tmp_path / "s.db"


def test_a_config_file_value_is_used_when_the_option_is_not_given(tmp_path):
    db = _store(tmp_path)
    conf = tmp_path / "a.toml"
    conf.write_text('order = "sideways"\nmax-labels = 2\n')
    res = cli("annotate", "--domain", "food", "--db", db, "--config", conf)
    assert res.exit_code != 0 and "--order: must be 'id' or 'popular', not 'sideways'" in res.output


def test_the_command_line_wins_over_the_config_file(tmp_path):
    db = _store(tmp_path)
    conf = tmp_path / "a.toml"
    conf.write_text('order = "sideways"\n')
    res = cli("annotate", "--domain", "no-such-domain", "--order", "popular", "--db", db, "--config", conf)
    assert res.exit_code != 0 and "sideways" not in res.output and "no-such-domain" in res.output


def test_unknown_keys_and_wrong_types_are_one_line_errors_naming_the_file(tmp_path):
    db = _store(tmp_path)
    for text, needle in (('no_such_option = 1\n', "unknown key 'no_such_option'"),
                         ('max-labels = "two"\n', "key 'max-labels': expected int"),
                         ("order = [\n", "not valid TOML")):  # fmt: skip
        conf = tmp_path / "bad.toml"
        conf.write_text(text)
        res = cli("annotate", "--domain", "food", "--db", db, "--config", conf)
        lines = [ln for ln in res.output.splitlines() if ln.strip()]
        assert res.exit_code != 0 and len(lines) == 1 and needle in lines[0] and "bad.toml" in lines[0], (
            res.output
        )


def test_a_bad_job_fails_in_prepare_before_any_backend_is_built(tmp_path, monkeypatch):

    built = []
    monkeypatch.setattr("semacdr_cli.cli.llm_common.make_backend", lambda *a, **k: built.append(a))
    db = _store(tmp_path)
    for args in (["--domain", "nope"], ["--domain", "food", "--taxonomy-version", "9"],
                 ["--domain", "food", "--batch-size", "0"], ["--domain", "food", "--calibration", "x"]):  # fmt: skip
        res = cli("annotate", *args, "--db", db)
        assert res.exit_code != 0 and "Traceback" not in res.output
    res = cli("taxonomy", "induce", "--source", "food", "--target", "nope", "--db", db)
    assert res.exit_code != 0 and "nope" in res.output
    assert built == []
