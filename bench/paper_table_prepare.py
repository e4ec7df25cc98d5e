"""``bench/paper_table.py --prepare``: the semantic inputs of the table's semantic rows, built through
the CLI (taxonomy induce with the bundled model, annotate --distill, embed), each stage timed and
recorded in the results file with what ran beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import paper_table as pt


def prepare_stages(distill: int) -> list[list[tuple[str, list[str]]]]:
    """The CLI commands behind the semantic inputs, in groups: the stages of a group (one per domain)
    do not depend on each other and run side by side when the cores allow."""
    return [
        [("taxonomy induce", ["taxonomy", "induce", "--source", "kitchen", "--target", "food"])],
        [
            (f"annotate {d}", ["annotate", "--domain", d, "--distill", str(distill)])
            for d in ("food", "kitchen")
        ],
        [(f"embed {d}", ["embed", "--domain", d]) for d in ("food", "kitchen")],
    ]


def prepare(store: str, out: Path, distill: int, threads: int) -> None:
    """Taxonomy (bundled model, facets), every item labelled (--distill) and embedded, each timed; a
    group's stages run side by side (``threads`` each) when the machine has the cores for them."""
    from concurrent.futures import ThreadPoolExecutor

    from semacdr_cli.machine import available_cores

    cli = [sys.executable, "-m", "semacdr_cli", "--db", store]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "SEMACDR_THREADS": str(threads)}

    def stage(args: list[str]) -> tuple[subprocess.CompletedProcess, float]:
        t0 = time.perf_counter()
        proc = subprocess.run([*cli, "--json", *args], capture_output=True, text=True, env=env, check=False)
        return proc, round(time.perf_counter() - t0, 1)

    previous = json.loads(out.read_text()).get("stages") if out.exists() else None
    for group in prepare_stages(distill):
        batches = [group] if available_cores() >= threads * len(group) else [[s] for s in group]
        for batch in batches:
            with ThreadPoolExecutor(len(batch)) as pool:
                done = list(zip(batch, pool.map(stage, [args for _, args in batch]), strict=True))
            failed = [(name, proc) for (name, _), (proc, _) in done if proc.returncode != 0]
            for (name, _), (proc, seconds) in done:
                if proc.returncode != 0:
                    continue  # reported below, once the stages beside it are recorded
                try:
                    summary = json.loads(proc.stdout)
                except ValueError:
                    summary = {}
                entry = {"seconds": seconds, "summary": summary, "threads": threads}
                if len(batch) > 1:  # its wall time was measured beside these (they shared the machine)
                    entry["beside"] = [other for other, _ in batch if other != name]
                with pt.locked(out) as doc:
                    doc["stages"][name] = entry
                print(f"{name:<18} {seconds:8.1f} s", flush=True)
            if failed:
                name, proc = failed[0]
                sys.exit(
                    f"{name}: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'failed'}"
                )
    with pt.locked(out) as doc:
        record_semantics(doc, pt.semantic_inputs(store), previous)


def record_semantics(doc: dict, semantics: dict, old_stages: dict | None = None) -> None:
    """Make ``semantics`` the file's semantic inputs. Earlier ones that differ are kept under
    ``earlier_semantics`` (with ``old_stages``, the stage times they were built in) and the runs
    trained on them keep their fingerprint, so they stay in the file but leave the tables."""
    old = doc.get("semantics")
    old_fp = pt.fingerprint(old)
    for r in doc["runs"]:
        if r["row"] in pt.SEMANTIC_ROWS and "semantics" not in r and old_fp:
            r["semantics"] = old_fp
    if old and old_fp != pt.fingerprint(semantics):
        doc.setdefault("earlier_semantics", {})[old_fp] = {
            **old,
            **({"stages": old_stages} if old_stages else {}),
        }
    doc["semantics"] = {**semantics, "fingerprint": pt.fingerprint(semantics)}


def refuse_new_inputs(out: Path) -> None:
    """--prepare makes the store's inputs the file's; it stops when semantic runs rest on the recorded
    ones (a rebuild of the same inputs adds runs without it: docs/results.md, bench/restore_texts.py)."""
    doc = json.loads(out.read_text()) if out.exists() else {"runs": []}
    own = doc.get("table_semantics") or {}  # a table with inputs of its own keeps them
    kept = [r for r in pt.current_runs(doc) if r["row"] in pt.SEMANTIC_ROWS and pt.table_of(r) not in own]
    kept = kept if doc.get("semantics") else []  # without recorded inputs, nothing rests on them
    if kept:
        sys.exit(
            f"{out}: {len(kept)} runs of semantic rows rest on the inputs it records, and --prepare would"
            " replace those inputs (the runs would leave the tables). To add runs, rebuild the store"
            " without --prepare (docs/results.md); to start new inputs, add --new-inputs"
        )
