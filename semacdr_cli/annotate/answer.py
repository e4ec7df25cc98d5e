"""The answer contract of the generate method: `annotation_schema` (the JSON schema an answer must
meet: labels only from the taxonomy, a bounded description) and `check_answer` (parse the model's
text, repair what is safe to repair, keep labels inside the taxonomy whatever the item text said)."""

from __future__ import annotations

import copy
import json
from typing import Any

from semacdr_cli import safe_json
from semacdr_cli.prompting import schema_hash


def annotation_schema(base: dict, tree: list[dict], *, max_labels: int = 3, max_description_chars: int = 300,
                      exclude: dict[str, set[str]] | None = None) -> dict:  # fmt: skip
    """The output schema for one taxonomy: `labels` = {category: [1..max_labels enum subcategories]},
    `description` a string of at most `max_description_chars`. `exclude` removes subcategories
    (used when the outlier filter re-generates an item without a rare label)."""
    schema = copy.deepcopy(base)
    label_array = schema.pop("x-label-array", {"type": "array", "minItems": 1, "uniqueItems": True})
    props = {}
    for cat in tree:
        names = [s["name"] for s in cat["subcategories"]]
        allowed = [n for n in names if n not in (exclude or {}).get(cat["name"], set())] or names
        arr = dict(label_array)
        arr["items"] = {"type": "string", "enum": allowed}
        arr["minItems"] = 1
        arr["maxItems"] = max(1, min(max_labels, len(allowed)))
        props[cat["name"]] = arr
    schema["properties"]["labels"] = {
        "type": "object",
        "properties": props,
        "required": [c["name"] for c in tree],
        "additionalProperties": False,
    }
    schema["properties"]["description"]["maxLength"] = max_description_chars
    return schema


_VALIDATORS: dict[str, Any] = {}


def _validator(schema: dict):
    """A compiled validator per schema (answers of one run share a handful of schemas)."""
    key = schema_hash(schema)
    v = _VALIDATORS.get(key)
    if v is None:
        from jsonschema import Draft202012Validator

        if len(_VALIDATORS) > 64:
            _VALIDATORS.clear()
        v = _VALIDATORS[key] = Draft202012Validator(schema)
    return v


def _dedupe_labels(obj: Any) -> Any:
    """Drop repeated subcategories inside a category (grammar engines do not enforce `uniqueItems`,
    and a small model repeats itself); anything else is left for the schema check to judge."""
    if isinstance(obj, dict) and isinstance(obj.get("labels"), dict):
        labels = {c: list(dict.fromkeys(v)) if isinstance(v, list) and all(isinstance(x, str) for x in v) else v
                  for c, v in obj["labels"].items()}  # fmt: skip
        obj = {**obj, "labels": labels}
    return obj


def _fast_valid(obj: Any, schema: dict) -> bool:
    """True only when `obj` meets every keyword `annotation_schema` puts into the bundled schema
    shape; anything else (False) is judged, with a message, by jsonschema."""
    if not isinstance(obj, dict) or set(obj) != {"labels", "description"}:
        return False
    labels, desc = obj["labels"], obj["description"]
    dspec = schema["properties"]["description"]
    if not isinstance(desc, str) or not dspec.get("minLength", 0) <= len(desc) <= dspec.get(
        "maxLength", len(desc)
    ):
        return False
    lspec = schema["properties"]["labels"]
    if (
        not isinstance(labels, dict)
        or set(labels) != set(lspec["required"])
        or set(labels) - set(lspec["properties"])
    ):
        return False
    for cat, subs in labels.items():
        spec = lspec["properties"][cat]
        if not isinstance(subs, list) or not spec["minItems"] <= len(subs) <= spec["maxItems"]:
            return False
        if len(set(map(str, subs))) != len(subs):
            return False
        enum = spec["items"]["enum"]
        if not all(isinstance(x, str) and x in enum for x in subs):
            return False
    return True


def check_answer(text: str, schema: dict, label_ids: dict[tuple[str, str], int],
                 finish_reason: str | None = None, fast: bool = False) -> tuple[dict | None, str]:  # fmt: skip
    """(parsed answer, "") when `text` is a valid annotation, else (None, reason for the retry prompt).

    Beyond the JSON schema, every (category, subcategory) must exist in `label_ids`: the last
    line of defence that makes a label outside the taxonomy impossible to store. `fast=True` (only
    for schemas built by `annotation_schema` from the bundled base schema) checks a conforming
    answer without jsonschema, which costs milliseconds per answer.
    """
    from jsonschema.exceptions import best_match

    if not text or not text.strip():
        return None, "the answer was empty"
    try:
        obj = safe_json.loads(text)
    except json.JSONDecodeError as exc:
        cut = " (it was cut off: answer shorter)" if finish_reason == "length" else ""
        return None, f"the answer is not valid JSON ({exc.msg} at char {exc.pos}){cut}"
    obj = _dedupe_labels(obj)
    err = None if fast and _fast_valid(obj, schema) else best_match(_validator(schema).iter_errors(obj))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "top level"
        return None, f"{where}: {err.message[:200]}"
    for cat, subs in obj["labels"].items():
        for s in subs:
            if (cat, s) not in label_ids:
                return None, f"labels/{cat}: {s!r} is not a subcategory of {cat!r}"
    desc = " ".join(obj["description"].split())
    if not desc:
        return None, "description: must not be blank"
    return {"labels": {c: list(dict.fromkeys(v)) for c, v in obj["labels"].items()}, "description": desc}, ""
