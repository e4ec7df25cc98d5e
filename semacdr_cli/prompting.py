"""Prompt templates and JSON schemas as data files: load by name, render to chat, hash for provenance.

A template `NAME.txt` lives in `prompts/` (the installed package) or in a user folder given with
`--prompts DIR` (a file there wins over the bundled one). It holds a `### system` and a `### user`
section; `{{var}}` placeholders are replaced by plain substitution, so braces inside item text or
JSON examples need no escaping and a value is never re-scanned for placeholders. A schema is
`NAME.schema.json` (JSON Schema draft 2020-12). Hashes are sha256 of the template file's text and of
the canonical JSON of the schema actually sent (after run-time specialisation).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semacdr_cli import safe_json
from semacdr_cli.errors import SemacdrError

# characters that are not text a model should read: C0/C1 controls (tab and newline are whitespace
# below), zero-width and bidirectional formatting marks, the byte-order mark
_HIDDEN = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_SECTION = re.compile(r"^###\s*(system|user|assistant)\s*$", re.MULTILINE)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def untrusted_text(text: str | None, cap: int) -> str:
    """Item text as it may enter a prompt: HTML entities decoded first (so an encoded newline or
    bracket is caught below), hidden characters dropped, whitespace collapsed to single spaces (no
    line of its own), angle brackets replaced so no `</item>` or `</items>` can close a delimiter,
    at most ``cap`` characters."""
    t = " ".join(_HIDDEN.sub(" ", html.unescape(text or "")).split())
    return t.replace("<", "‹").replace(">", "›")[:cap]


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def schema_hash(schema: dict) -> str:
    """sha256 of the canonical JSON of a schema (key order and whitespace do not matter)."""
    return sha256_text(canonical_json(schema))


def _find(filename: str, prompts_dir: str | Path | None) -> tuple[str, str]:
    """(text, where) of a prompt data file, from `prompts_dir` first, then the bundled package."""
    if prompts_dir is not None:
        folder = Path(prompts_dir)
        if not folder.is_dir():
            raise SemacdrError("--prompts: not a folder", path=str(folder))
        candidate = folder / filename
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8"), str(candidate)
    bundled = bundled_prompts_dir() / filename
    if not bundled.is_file():
        where = f"{prompts_dir} or the bundled prompts/" if prompts_dir else "the bundled prompts/"
        raise SemacdrError(f"no prompt file {filename!r} in {where}")
    return bundled.read_text(encoding="utf-8"), f"prompts/{filename}"


def bundled_prompts_dir() -> Path:
    """The folder of the installed `prompts` package (works for regular and editable installs)."""
    import prompts

    return Path(next(iter(prompts.__path__)))


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    source: str  # where it was loaded from

    @property
    def hash(self) -> str:
        return sha256_text(self.text)

    @property
    def variables(self) -> set[str]:
        return set(_PLACEHOLDER.findall(self.text))

    def render(self, **values: Any) -> list[dict[str, str]]:
        """The chat (system + user messages) with every placeholder filled."""
        missing = self.variables - values.keys()
        if missing:
            raise SemacdrError(f"template needs values for {sorted(missing)}", path=self.source)

        def fill(part: str) -> str:
            return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), part).strip()

        sections = _split_sections(self.text, self.source)
        return [{"role": role, "content": fill(body)} for role, body in sections if fill(body)]


def _split_sections(text: str, source: str) -> list[tuple[str, str]]:
    marks = list(_SECTION.finditer(text))
    if not marks:
        return [("user", text)]
    if text[: marks[0].start()].strip():
        raise SemacdrError("text before the first `### system` / `### user` line", path=source)
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        out.append((m.group(1), text[m.end() : end]))
    return out


def load_template(name: str, prompts_dir: str | Path | None = None) -> Template:
    text, where = _find(f"{name}.txt", prompts_dir)
    _split_sections(text, where)
    return Template(name=name, text=text, source=where)


def load_schema(name: str, prompts_dir: str | Path | None = None) -> dict:
    text, where = _find(f"{name}.schema.json", prompts_dir)
    try:
        schema = safe_json.loads(text)
    except json.JSONDecodeError as exc:
        raise SemacdrError(f"not valid JSON ({exc.msg})", path=where, line=exc.lineno) from None
    if not isinstance(schema, dict):
        raise SemacdrError("a schema must be a JSON object", path=where)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise SemacdrError(f"not a valid JSON schema: {exc.message}", path=where) from None
    return schema
