"""The paper's Tables 2 and 3 on Food-Kitchen, at convergence, from one store (issue 13).

    python bench/paper_table.py --store fk.db --prepare            # taxonomy, labels, vectors (timed)
    python bench/paper_table.py --store fk.db [--seeds 5] [--rows all] [--directions kitchen:food,food:kitchen]
                                [--preset paper|fixes] [--loss bpr|bce|softmax|full]
                                [--select-metric sampled:ndcg@10|full:ndcg@10]
    python bench/paper_table.py --docs                             # regenerate docs/results.md's tables
    python bench/paper_table.py --store fk.db --estimate           # CPU-hours of one full pass

Every row of ROWS in both directions, ``--seeds`` seeds each, trained to convergence with the
harness defaults (validation every 5 epochs, patience 6 validations, cap 300 epochs), evaluated with
both protocols and the warm/cold breakdown. Each finished run is appended to ``--out``
(bench/results/food-kitchen.json) under a file lock, so a killed job continues where it stopped (a
run interrupted mid-training resumes from its last checkpoint: the trainer resumes an unfinished run
with the same config) and two jobs (``--threads 1`` each, different ``--rows``) can share the file.
``--prepare`` runs the semantic inputs through the CLI (taxonomy induce with the bundled model,
annotate --distill, embed; each domain's stages side by side when the cores allow) and records
their wall times and what ran beside them.

A **table** is one training setting for every row: ``--preset`` (default ``paper``, the setting of every
run recorded before presets existed) and, optionally, ``--loss`` for every row (rows that exist only to
show another loss, ``*-softmax``, are left out of such a table: they would repeat their base row), and
``--select-metric`` for every row (early stopping on one protocol's NDCG@10 for all of them).
Each run records its table, preset and loss (the loss its model trained with, ``auto`` resolved);
runs of one table are never averaged or compared with another's. ``--docs`` writes the generated tables
(paper_table_docs.render) between the markers of docs/results.md; no number there is typed by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from paper_table_inputs import fingerprint, part_of, semantic_inputs  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "food-kitchen.json"
DOCS = ROOT / "docs" / "results.md"
FIGURE = Path("figures") / "food-kitchen-seeds.png"  # beside DOCS
DIRECTIONS = ("kitchen:food", "food:kitchen")  # source:target

# key, label, model, ablation switches, config overrides. Baselines first (RelaImpr is over the best of
# them), then SemaCDR and its Table 3 variants, then SemaCDR with and without semantics under the loss the
# baselines use (the paper's BPR vs sampled softmax: it separates the loss from the semantics).
ROWS: list[tuple[str, str, str, list[str], dict]] = [
    ("sasrec", "SASRec", "sasrec", [], {}),
    ("cd-sasrec", "CD-SASRec", "cd-sasrec", [], {}),
    ("cl4srec", "CL4SRec", "cl4srec", [], {}),
    ("c2dsr", "C2DSR", "c2dsr", [], {}),
    ("tri-cdr", "Tri-CDR", "tri-cdr", [], {}),
    ("semacdr", "SemaCDR", "semacdr", [], {}),
    ("no-inner", "w/o InnSem (agnostic only)", "semacdr", ["no-inner-semantics"], {}),
    ("no-agnostic", "w/o DomAgnSem (inner only)", "semacdr", ["no-agnostic-semantics"], {}),
    ("no-semantics", "w/o InnDomAgnSem (no semantics)", "semacdr", ["no-semantics"], {}),
    # SimpGraph's chains have no leave-batch-out (graphs.WindowCounts): in every table it keeps its graph
    ("simple-graph", "SimpGraph", "semacdr", ["simple-graph"], {"graph_shortcut": "keep"}),
    ("no-cross", "w/o CDBehav", "semacdr", ["no-cross-domain-fusion"], {}),
    ("average-fusion", "AvgFusion", "semacdr", ["average-fusion"], {}),
    ("no-contrastive", "w/o ConReg", "semacdr", ["no-contrastive"], {}),
    ("sasrec-semantics", "SASRec + semantic component (Table 2 plug-in)", "sasrec", [], {"semantics": True}),
    (
        "tri-cdr-semantics",
        "Tri-CDR + semantic component (Table 2 plug-in)",
        "tri-cdr",
        [],
        {"semantics": True},
    ),
    ("semacdr-softmax", "SemaCDR, sampled-softmax loss", "semacdr", [], {"loss": "softmax"}),
    (
        "no-semantics-softmax",
        "w/o InnDomAgnSem, sampled-softmax loss",
        "semacdr",
        ["no-semantics"],
        {"loss": "softmax"},
    ),
]
BASELINES = ("sasrec", "cd-sasrec", "cl4srec", "c2dsr", "tri-cdr")
PAPER_TABLE = "paper"  # the table of every run recorded before tables had names


def table_name(preset: str, loss: str | None, select: str | None = None, labeller: str | None = None) -> str:
    """``paper``, ``fixes``, ``paper, loss full`` when one loss is imposed on every row, ``fixes,
    select sampled:ndcg@10`` when one early-stopping metric is, and ``fixes, labels qwen-1.5b`` for
    semantic inputs built by another labeller (their own, beside the file's)."""
    return (
        preset
        + (f", loss {loss}" if loss else "")
        + (f", select {select}" if select else "")
        + (f", labels {labeller}" if labeller else "")
    )


def table_of(run: dict) -> str:
    return run.get("table", PAPER_TABLE)


def table_rows(loss: str | None) -> list[tuple]:
    """The rows of a table: with one loss imposed on every row, the rows that only change the loss go."""
    return [r for r in ROWS if not (loss and "loss" in r[4])]


def run_loss(model: str, overrides: dict, preset: str) -> str:
    """The loss a row's model trains with under ``preset`` and its overrides (``auto`` resolved)."""
    from trainer.config import TrainConfig
    from trainer.presets import PRESETS

    loss = overrides.get("loss", PRESETS[preset].get("loss", TrainConfig.loss))
    return TrainConfig(model=model, loss=loss).loss_kind


def mark_tables(doc: dict) -> None:
    """Name the table, preset and loss of runs recorded before tables had names (all ``paper``)."""
    by_key = {r[0]: r for r in ROWS}
    for r in doc["runs"]:
        if "table" not in r and r["row"] in by_key:
            _, _, model, _, overrides = by_key[r["row"]]
            r.update(table=PAPER_TABLE, preset="paper", loss=run_loss(model, overrides, "paper"))


# -- the results file --------------------------------------------------------------------------------
@contextlib.contextmanager
def locked(path: Path):
    """The results document, read and written back under an exclusive lock (atomic replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = json.loads(path.read_text()) if path.exists() else {"runs": [], "stages": {}}
        yield doc
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)


def train_and_evaluate(args, *, overrides: dict, **train) -> tuple[dict, dict]:
    """One run of a bench table (on the CPU, quiet, ``args.threads`` torch threads, into
    ``args.runs_dir``) and its evaluation under both protocols: (run record, metrics)."""
    from trainer import api

    [run] = api.train(args.store, runs_dir=args.runs_dir, progress=False, device="cpu",
                      overrides={"threads": args.threads, **overrides}, **train)  # fmt: skip
    return run, api.evaluate(args.store, run["id"])


def reads(key: str) -> tuple[str, ...]:
    """Which parts of the semantic inputs a row's model reads, as the trainer's own switches say:
    ``labels`` (the taxonomy and every item's labels: the domain-agnostic view) and ``texts`` (the
    texts the item vectors encode: the inner view); the trainer loads neither for a view it does not use."""
    from trainer.config import TrainConfig

    [(_, _, model, ablation, overrides)] = [r for r in ROWS if r[0] == key]
    cfg = TrainConfig(model=model, ablation=ablation, semantics=bool(overrides.get("semantics")))
    return tuple(part for part, used in (("labels", cfg.use_agnostic), ("texts", cfg.use_inner)) if used)


SEMANTIC_ROWS = {key for key, *_ in ROWS if reads(key)}  # rows that read any semantic input


def unmatched_parts(key: str, recorded: dict, store: dict) -> list[str]:
    """The parts a row reads where the store's inputs differ from the recorded ones: a row can add runs
    beside the recorded inputs from any store whose parts that row reads are the same."""
    return [p for p in reads(key) if part_of(recorded, p) != part_of(store, p)]


def table_inputs(doc: dict, table: str) -> dict | None:
    """The semantic inputs a table's semantic rows train on: the table's own (``table_semantics``, set
    by ``--table-inputs``) or else the file's (``semantics``, those of the paper table)."""
    return (doc.get("table_semantics") or {}).get(table) or doc.get("semantics")


def current_runs(doc: dict, table: str | None = None) -> list[dict]:
    """The runs that belong in the tables (of ``table`` only, when given): any run of a row without
    semantics; a semantic row's run only when it was trained on the semantic inputs its table now
    records (an untagged one predates the fingerprints and counts as trained on the file's)."""
    fp = fingerprint(doc.get("semantics"))
    own = {t: fingerprint(sem) for t, sem in (doc.get("table_semantics") or {}).items()}
    return [
        r
        for r in doc["runs"]
        if (r["row"] not in SEMANTIC_ROWS or r.get("semantics", fp) == own.get(table_of(r), fp))
        and (table is None or table_of(r) == table)
    ]


def adopt_store_inputs(doc: dict, table: str, store_inputs: dict) -> None:
    """``--table-inputs``: the store's semantic inputs become ``table``'s own, beside the file's, so a
    table other than the paper's can train its semantic rows on inputs rebuilt elsewhere (another CPU
    labels differently) without taking the paper table's runs off their inputs. Refused for the paper
    table and for a table whose semantic rows already rest on other inputs."""
    if table == PAPER_TABLE:
        sys.exit("--table-inputs: the paper table's inputs are the file's (use --prepare --new-inputs)")
    fp = fingerprint(store_inputs)
    resting = [r for r in current_runs(doc, table) if r["row"] in SEMANTIC_ROWS and r.get("semantics") != fp]
    if resting:
        sys.exit(
            f"--table-inputs: {len(resting)} runs of table {table!r}'s semantic rows rest on its inputs;"
            " the store's would take them out of the table"
        )
    doc.setdefault("table_semantics", {})[table] = {**store_inputs, "fingerprint": fp}


def done_keys(doc: dict, table: str = PAPER_TABLE) -> set[tuple[str, str, int]]:
    return {(r["row"], r["direction"], r["seed"]) for r in current_runs(doc, table)}


# -- training ----------------------------------------------------------------------------------------
def run_all(args) -> None:
    from trainer.threads import apply_threads, machine

    preset, loss = getattr(args, "preset", "paper"), getattr(args, "loss", None)
    select = getattr(args, "select_metric", None)
    table = table_name(preset, loss, select, getattr(args, "labeller", None))
    by_key = {r[0]: r for r in table_rows(loss)}
    wanted = list(by_key) if args.rows == "all" else args.rows.split(",")
    unknown = [k for k in wanted if k not in by_key]
    if unknown:
        sys.exit(f"--rows: unknown in table {table!r}: {', '.join(unknown)} (known: {', '.join(by_key)})")
    rows = [by_key[k] for k in wanted]  # trained in this order (the tables keep ROWS' order)
    directions = args.directions.split(",")
    apply_threads(args.threads)  # before machine() reads torch's threads: the ones every run here uses
    machine_key = f"pid{os.getpid()}"  # each run names the machine entry it was trained on
    machine_entry = {**machine(), "threads": args.threads}  # written with this job's first run
    semantic = any(r[0] in SEMANTIC_ROWS for r in rows)
    store_inputs = semantic_inputs(args.store) if semantic else None
    with locked(args.out) as doc:
        doc["store"] = str(args.store)
        if semantic and getattr(args, "table_inputs", False):
            adopt_store_inputs(doc, table, store_inputs)
        recorded = table_inputs(doc, table)
    semantic_fp = fingerprint(recorded)
    store_fp = None
    if semantic:
        store_fp = fingerprint(store_inputs)
        differ = {r[0]: unmatched_parts(r[0], recorded, store_inputs) for r in rows if recorded}
        if semantic_fp is None or any(differ.values()):
            which = "; ".join(f"{k} reads {' and '.join(v)}, which differ" for k, v in differ.items() if v)
            sys.exit(
                "the store's semantic inputs are not the ones the results file records"
                + (f" ({which})" if which else "")
                + ": run with --prepare (or point --store at the store they came from)"
            )
    todo = [(row, d, args.first_seed + k) for k in range(args.seeds) for d in directions for row in rows]
    for (key, label, model, ablation, overrides), direction, seed in todo:
        with locked(args.out) as doc:
            if (key, direction, seed) in done_keys(doc, table):
                continue
        source, target = direction.split(":")
        t0 = time.perf_counter()
        print(f"{label} {source}->{target} seed {seed} [{table}] ...", flush=True)
        imposed = {"loss": loss, "select_metric": select}
        keys = {**overrides, **{k: v for k, v in imposed.items() if v}}
        run, result = train_and_evaluate(args, source=source, target=target, model=model,
                                         ablation=ablation or None, seed=seed, epochs=args.epochs,
                                         preset=preset, overrides=keys)  # fmt: skip
        record = {
            "row": key,
            "label": label,
            "table": table,
            "preset": preset,
            "loss": run_loss(model, keys, preset),
            **({"select_metric": select} if select else {}),
            "direction": direction,
            "seed": seed,
            "run": run["id"],  # in ``store`` (a labeller's table trains from a store of its own)
            "store": str(args.store),
            "sampled": result["sampled"],
            "full": result["full"],
            "breakdown": result["breakdown"],
            "training": result["training"][0],
            "train": (run.get("metrics") or {}).get("train", {}),
            "wall_seconds": round(time.perf_counter() - t0, 1),
            "threads": args.threads,
            "machine": machine_key,
        }
        if key in SEMANTIC_ROWS:
            record["semantics"] = semantic_fp  # the parts it reads are those inputs' (checked above)
            if store_fp != semantic_fp:  # the store differs in a part this row does not read
                record["store_semantics"] = store_fp
        with locked(args.out) as doc:
            mark_tables(doc)
            if (key, direction, seed) not in done_keys(doc, table):
                doc["runs"].append(record)
                doc.setdefault("machine", {})[machine_key] = machine_entry
        tr = record["train"]
        print(
            f"  NDCG@10 {result['sampled']['ndcg@10']:.4f} HR@10 {result['sampled']['hr@10']:.4f} "
            f"(full {result['full']['ndcg@10']:.4f}), {tr.get('epochs')} epochs, hit cap {tr.get('hit_cap')}, "
            f"{record['wall_seconds']:.0f} s",
            flush=True,
        )


def tables_doc(doc: dict) -> dict:
    """The document the tables are rendered from: the runs that count now, and how many do not."""
    shown = current_runs(doc)
    return {**doc, "runs": shown, "stale_runs": [r for r in doc["runs"] if r not in shown]}


def write_docs(results: Path, docs: Path) -> dict | None:
    """docs' generated tables and per-seed figure from ``results`` (paper_table_docs.write)."""
    from paper_table_docs import write

    doc = json.loads(results.read_text()) if results.exists() else {"runs": [], "stages": {}}
    return write(docs, tables_doc(doc), ROWS, BASELINES, SEMANTIC_ROWS, FIGURE)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--runs-dir", default=str(ROOT / "bench" / "results" / "runs"))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=42)
    p.add_argument(
        "--rows", default="all", help="all, or keys of ROWS separated by commas (trained in that order)"
    )
    p.add_argument("--directions", default=",".join(DIRECTIONS))
    p.add_argument("--epochs", type=int, default=None, help="the cap (default: the trainer's, 300)")
    p.add_argument("--threads", type=int, default=2)
    from trainer.presets import PRESETS

    p.add_argument("--preset", default="paper", choices=list(PRESETS), help="every row's training preset")
    p.add_argument(
        "--loss",
        choices=("bpr", "bce", "softmax", "full"),
        help="one loss imposed on every row of the table (default: each row's under the preset)",
    )
    p.add_argument(
        "--select-metric",
        choices=("sampled:ndcg@10", "full:ndcg@10"),
        help="one early-stopping metric imposed on every row (default: the preset's)",
    )
    p.add_argument("--prepare", action="store_true", help="taxonomy, labels and vectors first (timed)")
    p.add_argument("--distill", type=int, default=1000)
    p.add_argument(
        "--new-inputs",
        action="store_true",
        help="let --prepare replace inputs runs rest on (a labeller's: start its build again in this store)",
    )
    p.add_argument("--model", help="with --prepare: the labeller (`--model` of taxonomy induce and annotate)")
    p.add_argument(
        "--labeller",
        help="a table of its own for inputs another labeller built (`, labels NAME`); implies --table-inputs",
    )
    p.add_argument(
        "--table-inputs", action="store_true", help="the store's semantic inputs become the table's"
    )
    p.add_argument("--docs", action="store_true", help="regenerate docs/results.md from --out and stop")
    p.add_argument("--estimate", action="store_true", help="the CPU-hours of one full pass, then stop")
    p.add_argument("--estimate-json", type=Path, help="with --estimate: also write the estimate here")
    args = p.parse_args()
    if args.docs:
        write_docs(args.out, DOCS)
        return
    if not args.store:
        p.error("--store is required (a store with Food-Kitchen imported)")
    if args.estimate:
        from paper_table_estimate import estimate

        rows = table_rows(args.loss)
        rows = rows if args.rows == "all" else [r for r in rows if r[0] in args.rows.split(",")]
        doc = json.loads(args.out.read_text()) if args.out.exists() else {"runs": []}
        result = estimate(
            args.store, rows, args.directions.split(","), args.seeds, doc, args.preset, args.loss
        )
        if args.estimate_json:
            args.estimate_json.write_text(json.dumps(result, indent=2))
        return
    if args.model and not (args.prepare and args.labeller):
        p.error("--model names the labeller of --prepare, and its inputs need a table: add --labeller")
    args.table_inputs = args.table_inputs or bool(args.labeller)
    if args.prepare:
        from paper_table_prepare import prepare, refuse_new_inputs

        if not args.new_inputs and not args.labeller:  # a labeller's table never touches the file's inputs
            refuse_new_inputs(args.out)

        prepare(args.store, args.out, args.distill, args.threads, args.model, args.labeller, args.new_inputs)
    run_all(args)
    write_docs(args.out, DOCS)


if __name__ == "__main__":
    main()
