"""What the report reads from a run folder: the training history and the evaluation metrics,
whatever shape the files have; anything missing becomes a note."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from semacdr_cli.report.markdown import PROTOCOLS

HISTORY_FILES = ("metrics.jsonl", "history.jsonl")
EVAL_FILES = ("eval.json", "eval_test.json", "eval-test.json", "test.json", "results.json", "metrics.json")


def resolve_run_dir(run_dir: str | None, db_path: Path) -> Path | None:
    """The run folder as recorded, or relative to the store's folder; None when neither exists."""
    if not run_dir:
        return None
    p = Path(run_dir)
    for cand in (p, db_path.parent / p):
        if cand.is_dir():
            return cand
    return None


def read_history(run_dir: Path, notes: list[str], run_id: int) -> list[dict]:
    """Per-epoch records of a run folder's JSON lines; bad lines are skipped with a note."""
    for name in HISTORY_FILES:
        path = run_dir / name
        if not path.is_file():
            continue
        records = []
        for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                notes.append(f"run {run_id}: {path}:{i} is not JSON; that line is skipped")
                continue
            if isinstance(rec, dict):
                records.append(rec)
        return records
    return []


def extract_metrics(obj: Any, split: str = "test") -> dict | None:
    """``{"sampled": {...}, "full": {...}}`` out of an eval result in the trainer's likely shapes:
    the object itself, or nested under the split name (``test``), ``metrics`` or ``eval``."""
    if not isinstance(obj, dict):
        return None
    if any(isinstance(obj.get(p), dict) for p in PROTOCOLS):
        return {
            p: {str(k).lower(): v for k, v in obj[p].items()}
            for p in PROTOCOLS
            if isinstance(obj.get(p), dict)
        }
    for key in (split, "metrics", "eval", "result"):
        found = extract_metrics(obj.get(key), split)
        if found:
            return found
    return None


def run_metrics(run: dict, run_dir: Path | None, notes: list[str]) -> tuple[dict | None, str]:
    """The run's evaluation: the store's ``runs.metrics`` first, then an eval file of its folder."""
    stored = run.get("metrics")
    group_mean = isinstance(stored, dict) and isinstance(stored.get("runs"), list) and len(stored["runs"]) > 1
    found = (
        None if group_mean else extract_metrics(stored)
    )  # a --repeat group's mean is not this run's result
    if found:
        return found, "store"
    if run_dir is not None:
        candidates = [run_dir / n for n in EVAL_FILES] + sorted(run_dir.glob("eval*.json"))
        for path in candidates:
            if not path.is_file():
                continue
            try:
                found = extract_metrics(json.loads(path.read_text(encoding="utf-8")))
            except ValueError:
                notes.append(f"run {run['id']}: {path} is not JSON; ignored")
                continue
            if found:
                return found, path.name
    notes.append(
        f"run {run['id']}: no evaluation found (runs.metrics empty, no eval file); run `semacdr eval {run['id']}`"
    )
    return None, ""


# -- sections ---------------------------------------------------------------------------------------
