"""Kill-anywhere soak: each long job killed with SIGKILL at random (seeded) moments and restarted until it
finishes, then its store compared with the store of one uninterrupted run (docs/reliability.md).

    python bench/soak_kill.py --kills 20                  # import, annotate, embed and train
    python bench/soak_kill.py --jobs annotate --kills 5 --json

Each job runs as the CLI a user runs (`semacdr ...` in a subprocess of its own session) on a copy of
one prepared store (the demo data set; for annotate, embed and train also a fixed taxonomy). A kill
moment is drawn uniformly in [0, the uninterrupted run's wall time]; after ``--kills`` kills the job
runs to its end. The comparison is row by row over the job's tables with the columns that record
when or how long (created_at, seconds, ...) left out: ``lost`` = rows of the uninterrupted store the
soaked one lacks, ``duplicated`` = rows it has beyond them; a training run compares its test metrics
(max absolute difference).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SEMACDR = [str(Path(sys.executable).parent / "semacdr")]  # the console script of this environment
VOLATILE = {"created_at", "finished_at", "applied_at", "seconds", "run_dir", "versions", "config", "params"}
# generated text of the batch in flight at a kill is decoded again in a batch of other items, and batched
# greedy decoding is not bit-identical across paddings: compared apart (and counted), labels are not
WORDING = {"description", "tokens_in", "tokens_out", "outliers"}
TAXONOMY = {"categories": [
    {"name": "Audience", "subcategories": ["Children", "Teens", "Adults", "Families"]},
    {"name": "Mood", "subcategories": ["Uplifting", "Dark", "Funny", "Tense"]},
    {"name": "Setting", "subcategories": ["Historical", "Modern", "Futuristic", "Fantasy"]},
]}  # fmt: skip

# job -> (command after `semacdr`, the tables it writes, prepared with a taxonomy)
JOBS = {
    "import": (["data", "import", "csv", "{data}", "--name", "soak", "--domains", "book,movie", "--replace"],
               ["datasets", "domains", "users", "items", "interactions"], False),
    "annotate": (["annotate", "--domain", "book", "--limit", "{limit}", "--batch-size", "4"],
                 ["annotations", "annotation_labels"], True),
    "embed": (["embed", "--domain", "book", "--batch-size", "16"], ["embeddings"], True),
    "train": (["train", "--source", "movie", "--target", "book", "--model", "sasrec", "--epochs", "{epochs}",
               "--seed", "3", "--runs-dir", "{runs}", "--threads", "1"], ["runs"], True),
}  # fmt: skip


def cli(args: list[str], db: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([*SEMACDR, *args, "--db", str(db), "-q"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)  # fmt: skip


def must(args: list[str], db: Path) -> None:
    p = cli(args, db)
    _, err = p.communicate()
    if p.returncode:
        sys.exit(f"setup failed: semacdr {' '.join(args)}: {err.decode()[-500:]}")


def prepare(work: Path, users: int) -> Path:
    """The demo files, and a store holding the demo data set and the fixed taxonomy."""
    base = work / "base.db"
    must(["data", "demo", "--out", str(work / "data"), "--users", str(users), "--seed", "7"], base)
    (work / "taxonomy.json").write_text(json.dumps(TAXONOMY), encoding="utf-8")
    with_tax = work / "base-taxonomy.db"
    shutil.copy(base, with_tax)
    must(["taxonomy", "import", str(work / "taxonomy.json")], with_tax)
    return work


def _table(db: Path, table: str, leave_out: set[str] = frozenset()) -> tuple[list[str], list[tuple]]:
    from semacdr_cli.store import Store
    from semacdr_cli.store.core import content

    with Store(db, create=False) as store:
        return content(store, table, leave_out)


def rows(db: Path, tables: list[str]) -> dict[str, Counter]:
    out = {}
    for t in tables:
        # metrics compared apart; a group id is random: numbered by first appearance
        cols, got = _table(db, t, VOLATILE | WORDING | ({"metrics"} if t == "runs" else set()))
        if "sampling" in cols:  # the threads a run took depend on the cores free at that moment
            at = cols.index("sampling")
            got = [(*r[:at], _without_threads(r[at]), *r[at + 1 :]) for r in got]
        if "group_id" in cols:
            at, number = cols.index("group_id"), {}
            got = [(*r[:at], number.setdefault(r[at], len(number)), *r[at + 1 :]) for r in got]
        out[t] = Counter(got)
    return out


def _without_threads(sampling: str | None) -> str | None:
    if not sampling:
        return sampling
    doc = json.loads(sampling)
    doc.pop("threads", None)
    return json.dumps(doc, sort_keys=True)


def complete(db: Path, tables: list[str], reference: dict, metrics: list[dict]) -> bool:
    """Whether the store already holds all the uninterrupted run wrote (a kill after the last write)."""
    return rows(db, tables) == reference and (not metrics or metric_gap(metrics, run_metrics(db)) == 0)


def wording(db: Path) -> dict[int, str]:
    cols, got = _table(db, "annotations")
    i, d = cols.index("item_id"), cols.index("description")
    return {r[i]: r[d] for r in got}


def run_metrics(db: Path) -> list[dict]:
    cols, got = _table(db, "runs")
    return [json.loads(r[cols.index("metrics")] or "{}") for r in got]


def integrity(db: Path) -> str:
    from semacdr_cli.store import Store
    from semacdr_cli.store.core import integrity as check

    with Store(db, create=False) as store:
        return check(store)


def _flat(d, prefix="") -> dict[str, float]:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}/"))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


def metric_gap(a: list[dict], b: list[dict]) -> float | None:
    if not a and not b:
        return None
    if len(a) != len(b):
        return float("inf")
    gaps = [0.0]
    for x, y in zip(a, b, strict=True):
        fx, fy = _flat(x.get("test", x)), _flat(y.get("test", y))
        if set(fx) != set(fy):
            return float("inf")
        gaps += [abs(fx[k] - fy[k]) for k in fx]
    return max(gaps)


def soak(job: str, work: Path, kills: int, rng: random.Random, limit: int, epochs: int) -> dict:
    args, tables, taxonomy = JOBS[job]
    base = work / ("base-taxonomy.db" if taxonomy else "base.db")

    def fill(name: str) -> list[str]:
        values = {"data": str(work / "data"), "limit": str(limit), "epochs": str(epochs),
                  "runs": str(work / f"runs-{job}-{name}")}  # fmt: skip
        return [a.format(**values) for a in args]

    ref = work / f"{job}-ref.db"
    shutil.copy(base, ref)
    t0 = time.perf_counter()
    must(fill("ref"), ref)
    t_ref = time.perf_counter() - t0

    # rounds: a fresh copy killed and restarted until the job finishes, until --kills kills in all
    done_kills, starts, rounds, lost, dup, reworded, gap, t0 = 0, 0, 0, 0, 0, 0, 0.0, time.perf_counter()
    after_done = 0
    a, ref_metrics = rows(ref, tables), run_metrics(ref)
    while rounds == 0 or done_kills < kills:
        rounds += 1
        db = work / f"{job}-soak-{rounds}.db"
        shutil.copy(base, db)
        while True:
            starts += 1
            p = cli(fill(f"soak-{rounds}"), db)
            if done_kills < kills:
                try:
                    p.wait(timeout=rng.uniform(0, t_ref))
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
                    done_kills += 1
                    if complete(
                        db, tables, a, ref_metrics
                    ):  # killed after its last write: nothing left to run
                        after_done += 1
                        break
                    continue
            _, err = p.communicate()
            if p.returncode != 0:
                return {"job": job, "error": f"exit {p.returncode}: {err.decode()[-400:]}"}
            break
        b = rows(db, tables)
        lost += sum(sum((a[t] - b[t]).values()) for t in tables)
        dup += sum(sum((b[t] - a[t]).values()) for t in tables)
        if job == "annotate":
            before, after = wording(ref), wording(db)
            reworded += sum(d != after.get(i) for i, d in before.items())
        if job == "train":
            gap = max(gap, metric_gap(ref_metrics, run_metrics(db)) or 0.0)
        if integrity(db) != "ok":
            return {"job": job, "error": f"round {rounds}: {integrity(db)}"}
    soak_s = time.perf_counter() - t0
    return {
        "job": job, "kills": done_kills, "kills_after_last_write": after_done, "rounds": rounds, "starts": starts,
        "rows": sum(sum(a[t].values()) for t in tables), "lost": lost, "duplicated": dup,
        "descriptions_reworded": reworded if job == "annotate" else None, "metric_gap": gap if job == "train" else None,
        "seconds_uninterrupted": round(t_ref, 1), "seconds_soak": round(soak_s, 1), "integrity": "ok",
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", default=",".join(JOBS), help=f"comma-separated, of {', '.join(JOBS)}")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--users", type=int, default=2000, help="demo users (the import job's size)")
    ap.add_argument("--limit", type=int, default=16, help="items the annotate job labels")
    ap.add_argument("--epochs", type=int, default=8, help="epochs of the train job")
    ap.add_argument("--work", default=None, help="folder for the stores (default: a temp folder)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from semacdr_cli.machine import cpu_model

    jobs = args.jobs.split(",")
    unknown = [j for j in jobs if j not in JOBS]
    if unknown:
        sys.exit(f"--jobs: unknown {', '.join(unknown)} (known: {', '.join(JOBS)})")
    work = Path(args.work or tempfile.mkdtemp(prefix="semacdr-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    prepare(work, args.users)
    rng = random.Random(args.seed)
    results = [soak(j, work, args.kills, rng, args.limit, args.epochs) for j in jobs]
    doc = {
        "seed": args.seed,
        "kills": args.kills,
        "machine": f"{cpu_model()}, {os.cpu_count()} cores",
        "results": results,
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"kill-anywhere soak (seed {args.seed}; {doc['machine']})")
    for col in ("job", "kills", "rounds", "starts", "rows", "lost", "duplicated", "reworded", "metric gap", "uninterrupted s", "soak s",
                "integrity"):  # fmt: skip
        table.add_column(col)
    for r in results:
        if "error" in r:
            table.add_row(r["job"], *[""] * 10, r["error"])
            continue
        gap = "" if r["metric_gap"] is None else f"{r['metric_gap']:.2g}"
        table.add_row(r["job"], str(r["kills"]), str(r["rounds"]), str(r["starts"]), str(r["rows"]), str(r["lost"]),
                      str(r["duplicated"]), str(r["descriptions_reworded"] or ""), gap, str(r["seconds_uninterrupted"]), str(r["seconds_soak"]),
                      r["integrity"])  # fmt: skip
    Console(width=200).print(table)
    if any("error" in r or r["lost"] or r["duplicated"] or (r["metric_gap"] or 0) > 1e-6 for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
