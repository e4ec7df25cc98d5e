"""Taxonomy documents: show, export to a reviewed JSON file, import it back as a new version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from semacdr_cli import safe_json
from semacdr_cli.errors import SemacdrError
from semacdr_cli.prompting import load_schema, sha256_text
from semacdr_cli.store import Store
from semacdr_cli.store import semantic as sem
from semacdr_cli.taxonomy.rules import _schema_error, validate_categories


def taxonomy_document(store: Store, dataset_id: int, version: int | None = None) -> dict[str, Any]:
    """`{"version", "origin", "created_at", "domains", "provenance", "categories": [{"name",
    "subcategories"}]}`: what `taxonomy show --json` prints and `taxonomy export` writes."""
    row = sem.get_taxonomy(store, dataset_id, version)
    cats = []
    for c in sem.taxonomy_tree(store, row["id"]):
        entry: dict[str, Any] = {"name": c["name"], "subcategories": [s["name"] for s in c["subcategories"]]}
        if c["description"]:
            entry["description"] = c["description"]
        cats.append(entry)
    params = sem.loads(row["params"]) or {}
    return {
        "version": row["version"],
        "origin": row["origin"],
        "created_at": row["created_at"],
        "domains": sem.loads(row["domains"]),
        "provenance": {
            "model": row["model"],
            "backend": row["backend"],
            "prompt_hash": row["prompt_hash"],
            "schema_hash": row["schema_hash"],
            "path": (params.get("stats") or {}).get("path"),
            "params": params,
        },
        "categories": cats,
    }


def export_taxonomy(store: Store, dataset_id: int, path: str | Path, version: int | None = None) -> dict:
    doc = taxonomy_document(store, dataset_id, version)
    Path(path).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return doc


def read_taxonomy_file(path: str | Path, prompts_dir: str | None = None) -> list[dict]:
    """Parse and validate a taxonomy file; a one-line SemacdrError names the file and the field."""
    p = Path(path)
    if not p.is_file():
        raise SemacdrError("no such file", path=str(p))
    try:
        doc = safe_json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise SemacdrError("not UTF-8 text", path=str(p)) from None
    except json.JSONDecodeError as exc:
        raise SemacdrError(
            f"not valid JSON ({exc.msg}, column {exc.colno})", path=str(p), line=exc.lineno
        ) from None
    err = _schema_error(doc, load_schema("taxonomy", prompts_dir))
    if err:
        raise SemacdrError(err, path=str(p))
    cats = []
    for c in doc["categories"]:
        entry = {
            "name": " ".join(c["name"].split()),
            "subcategories": [" ".join(s.split()) for s in c["subcategories"]],
        }
        if c.get("description"):
            entry["description"] = c["description"]
        cats.append(entry)
    errors = validate_categories(cats)
    if errors:
        raise SemacdrError(errors[0], path=str(p))
    return cats


def import_taxonomy(
    store: Store, dataset_id: int, path: str | Path, prompts_dir: str | None = None
) -> tuple[int, int]:
    """Validate a (reviewed, edited) taxonomy file and store it as a new version, origin "imported"."""
    cats = read_taxonomy_file(path, prompts_dir)
    return sem.insert_taxonomy(
        store,
        dataset_id,
        cats,
        origin="imported",
        domains=None,
        params={
            "file": str(Path(path).resolve()),
            "sha256": sha256_text(Path(path).read_text(encoding="utf-8")),
        },
    )
