"""Shared fixtures. Tests that need ../shared/data skip cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("SEMACDR_SHARED", ROOT.parent / "shared"))
FOOD_KITCHEN = SHARED / "data" / "amazon-food-kitchen"
MOVIE_BOOK = SHARED / "data" / "amazon-movie-book-partial"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def food_kitchen() -> Path:
    if not (FOOD_KITCHEN / "num.txt").exists():
        pytest.skip("../shared/data/amazon-food-kitchen is not present")
    return FOOD_KITCHEN
