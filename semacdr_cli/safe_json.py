"""``json.loads`` for untrusted text (a model's answer, an input file's line or cell): nesting deeper
than the parser's recursion limit is a ``JSONDecodeError`` like any other malformed text, not a
``RecursionError`` that would escape every caller's handler."""

from __future__ import annotations

import json
from typing import Any


def loads(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        doc = text if isinstance(text, str) else ""
        raise json.JSONDecodeError("nested too deeply", doc, 0) from None
