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
from paper_table_inputs import store_taxonomy


def prepare_stages(distill: int, model: str | None = None) -> list[list[tuple[str, list[str]]]]:
    """The CLI commands behind the semantic inputs, in groups: the stages of a group (one per domain)
    do not depend on each other and run side by side when the cores allow. ``model``: the labeller's
    ``--model`` (default: the bundled one)."""
    llm = ["--model", model] if model else []
    return [
        [("taxonomy induce", ["taxonomy", "induce", "--source", "kitchen", "--target", "food", *llm])],
        [
            (f"annotate {d}", ["annotate", "--domain", d, "--distill", str(distill), *llm])
            for d in ("food", "kitchen")
        ],
        [(f"embed {d}", ["embed", "--domain", d]) for d in ("food", "kitchen")],
    ]


def prepare(
    store: str,
    out: Path,
    distill: int,
    threads: int,
    model: str | None = None,
    labeller: str | None = None,
    new_inputs: bool = False,
) -> None:
    """Taxonomy (bundled model unless ``model``; facets), every item labelled (--distill) and embedded,
    each timed; a group's stages run side by side (``threads`` each) when the machine has the cores
    for them. With ``labeller`` the stage times go under ``labeller_stages[labeller]`` and the inputs
    are left for ``--table-inputs`` to give that labeller's table; otherwise they become the file's. A
    labeller's build resumes at its unfinished stages only in a store that holds the taxonomy it recorded;
    ``new_inputs`` starts it again in another (its recorded stages go)."""
    from concurrent.futures import ThreadPoolExecutor

    from semacdr_cli.machine import available_cores

    cli = [sys.executable, "-m", "semacdr_cli", "--db", store]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "SEMACDR_THREADS": str(threads)}

    recorded = json.loads(out.read_text()) if out.exists() else {}
    earlier = _labeller_stages(recorded, labeller, model) if labeller else {}
    if earlier and not _holds_recorded_taxonomy(store, earlier):
        if not new_inputs:
            sys.exit(
                f"--labeller {labeller}: {out} records a build whose taxonomy {store} does not hold (built in"
                " another store); add --new-inputs to start it again here"
            )
        print(f"--labeller {labeller}: {store} does not hold its recorded build; starting again", flush=True)
        with pt.locked(out) as doc:
            doc["labeller_stages"].pop(labeller)
        earlier = {}

    def stage(named: tuple[str, list[str]]) -> tuple[subprocess.CompletedProcess, float]:
        name, args = named
        t0 = time.perf_counter()
        # a labeller's long stage notes how long it has run, so that the time outlives a kill
        tick = (lambda: _heartbeat(out, labeller, name, time.perf_counter() - t0)) if labeller else None
        proc = run_stage([*cli, "--json", *args], env=env, tick=tick)
        return proc, round(time.perf_counter() - t0, 1)

    previous = recorded.get("stages")
    for group in prepare_stages(distill, model):
        group = [s for s in group if "seconds" not in earlier.get(s[0], {})]  # a labeller's stage done before
        if not group:
            continue
        batches = [group] if available_cores() >= threads * len(group) else [[s] for s in group]
        for batch in batches:
            with ThreadPoolExecutor(len(batch)) as pool:
                done = list(zip(batch, pool.map(stage, batch), strict=True))
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
                    if labeller:
                        mine = doc.setdefault("labeller_stages", {}).setdefault(labeller, {})
                        noted = mine.get(name) or {}
                        cut = noted.get("interrupted", [])  # attempts a kill ended, less this one's notes
                        cut = cut[:-1] if noted.get("attempt_started") == _ATTEMPT else cut
                        entry |= {"model": model, "seconds": round(seconds + sum(cut), 1)}
                        entry |= {"attempts": [*cut, seconds]} if cut else {}
                        mine[name] = entry
                    else:
                        doc["stages"][name] = entry
                print(f"{name:<18} {seconds:8.1f} s", flush=True)
            if failed:
                name, proc = failed[0]
                sys.exit(
                    f"{name}: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else 'failed'}"
                )
    if labeller:
        return
    with pt.locked(out) as doc:
        record_semantics(doc, pt.semantic_inputs(store), previous)


HEARTBEAT = 60.0  # seconds between a labeller's stage's notes of how long it has run


def run_stage(cmd: list[str], *, env: dict, tick=None) -> subprocess.CompletedProcess:
    """One CLI stage, its output captured; ``tick()`` every HEARTBEAT seconds while it runs."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) as child:
        while True:
            try:
                stdout, stderr = child.communicate(timeout=HEARTBEAT)
                return subprocess.CompletedProcess(cmd, child.returncode, stdout, stderr)
            except subprocess.TimeoutExpired:
                if tick:
                    tick()


def _labeller_stages(doc: dict, labeller: str, model: str | None) -> dict:
    """The stages ``doc`` records for ``labeller`` so far; refused when they were built with another model."""
    mine = (doc.get("labeller_stages") or {}).get(labeller) or {}
    other = {v.get("model") for v in mine.values() if "seconds" in v} - {model}
    if other:
        sys.exit(
            f"--labeller {labeller}: its stages were built with --model {other.pop()}; name another labeller"
        )
    return mine


def _holds_recorded_taxonomy(store: str, stages: dict) -> bool:
    """Whether ``store`` holds the taxonomy a labeller's recorded ``taxonomy induce`` stage built (true
    when none is recorded yet): the stages after it resume only on top of that taxonomy."""
    from semacdr_cli.errors import SemacdrError

    built = (stages.get("taxonomy induce") or {}).get("summary", {}).get("categories")
    if built is None:
        return True
    try:
        held = store_taxonomy(store)["categories"]
    except SemacdrError:  # no taxonomy at all (a fresh store)
        return False
    return held == {c["name"]: c["subcategories"] for c in built}


def _heartbeat(out: Path, labeller: str, name: str, elapsed: float) -> None:
    """Note how long a labeller's stage has run in this attempt: if the job is killed, the attempt's time
    stays in ``interrupted`` and the stage's recorded wall, when a rerun resumes and finishes it, adds it."""
    with pt.locked(out) as doc:
        entry = doc.setdefault("labeller_stages", {}).setdefault(labeller, {}).setdefault(name, {})
        runs = entry.setdefault("interrupted", [])
        if entry.get("attempt_started") != _ATTEMPT:
            entry["attempt_started"] = _ATTEMPT
            runs.append(0.0)
        runs[-1] = round(elapsed, 1)


_ATTEMPT = f"{os.getpid()}-{time.time():.0f}"  # this job: heartbeats of one attempt update one value


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
