"""Config files of the jobs (`--config FILE.toml` of the semantic commands, `train --config`): reading one
as one-line errors, and whether a value fits the type of the option it sets."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from semacdr_cli.errors import SemacdrError


def read_toml(path: str | Path) -> dict[str, Any]:
    """The TOML file at ``path``; a missing or malformed file is a one-line error naming it."""
    file = Path(path)
    if not file.is_file():
        raise SemacdrError("config file not found", path=str(file))
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SemacdrError(f"not valid TOML ({exc})", path=str(file)) from None


def fits(default: Any, value: Any) -> bool:
    """Whether ``value`` may replace ``default``: the same type, an int for a float, never a bool for a
    number or a number for a bool."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, type(default))
