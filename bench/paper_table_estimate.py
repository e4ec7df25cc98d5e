"""``bench/paper_table.py --estimate``: the CPU-hours of one full paper-table pass (every row, both
directions, ``--seeds`` seeds), from a few timed training steps of each row and the epochs its recorded
runs took to converge.

For each row and direction: the mean time of ``steps`` training steps (after two unmeasured ones) on
one thread times the batches of an epoch, plus one validation every ``eval_every`` epochs and the
final evaluation (valid and test); times the median epochs of that row's recorded runs (``--out``; the
median of all rows where it has none). The code measured is the one on ``sys.path``: run the script
from another checkout to estimate that commit (the "before" of a change), on the same machine.
"""

from __future__ import annotations

import math
import statistics
import time

FALLBACK_EPOCHS = 100  # a row with no recorded run anywhere


def recorded_epochs(doc: dict, table: str) -> dict[tuple[str, str], float]:
    """(row, direction) -> median epochs trained (the runs of ``table`` that count now)."""
    from paper_table import current_runs

    epochs: dict[tuple[str, str], list[int]] = {}
    for r in current_runs(doc, table):
        n = (r.get("train") or {}).get("epochs")
        if n:
            epochs.setdefault((r["row"], r["direction"]), []).append(int(n))
    return {k: statistics.median(v) for k, v in epochs.items()}


def time_row(store: str, source: str, target: str, model: str, ablation: list, overrides: dict, steps: int,
             preset: str = "paper"):  # fmt: skip
    """(seconds per training epoch, seconds per validation, eval_every) of one row under ``preset``, one
    thread, its steps collated as training collates them."""
    import numpy as np
    import torch

    from semacdr_cli.store import Store
    from trainer.config import load_config
    from trainer.evaluate import evaluate_model
    from trainer.loop import make_batches, make_optimizer, step_parts, steps_per_batch
    from trainer.run import setup

    cfg = load_config(
        None, preset=preset, source=source, target=target, model=model, ablation=list(ablation), threads=1,
        **overrides,
    )  # fmt: skip
    with Store(store, create=False) as s:
        inputs = setup(s, cfg)  # the data and graphs training builds
    data = inputs.data
    torch.manual_seed(0)
    net = inputs.build_model(cfg, data, inputs.graphs)
    net.steps_per_batch = steps_per_batch(data.train, cfg.batch_size)
    net.train()
    opt = make_optimizer(net, cfg)
    rng = np.random.default_rng(0)
    batches = make_batches(rng.permutation(len(data.train)), data.train, cfg, rng)

    def step(idx):
        out = net(step_parts(idx, data, cfg, rng))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()

    for idx in batches[:2]:
        step(idx)
    timed = batches[2 : 2 + steps]
    t0 = time.perf_counter()
    for idx in timed:
        step(idx)
    per_step = (time.perf_counter() - t0) / len(timed)
    net.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        evaluate_model(net, data, cfg, "valid")
    return per_step * math.ceil(len(data.train) / cfg.batch_size), time.perf_counter() - t0, cfg.eval_every


def estimate(store: str, rows: list, directions: list[str], seeds: int, doc: dict, preset: str = "paper",
             loss: str | None = None, steps: int = 8) -> dict:  # fmt: skip
    """One line per (row, direction) and the total CPU-hours of ``seeds`` seeds of every line of the
    table ``preset`` (and ``loss`` for every row); epochs from that table's runs, else the paper table's."""
    import torch
    from paper_table import PAPER_TABLE, table_name

    from trainer.threads import machine

    torch.set_num_threads(1)
    table = table_name(preset, loss)
    epochs = {**recorded_epochs(doc, PAPER_TABLE), **recorded_epochs(doc, table)}
    fallback = statistics.median(epochs.values()) if epochs else FALLBACK_EPOCHS
    lines = []
    for direction in directions:
        source, target = direction.split(":")
        for key, _label, model, ablation, overrides in rows:
            keys = {**overrides, **({"loss": loss} if loss else {})}
            s_epoch, s_valid, every = time_row(store, source, target, model, ablation, keys, steps, preset)
            n = epochs.get((key, direction), fallback)
            seconds = n * s_epoch + (n / every + 2) * s_valid  # validations, then the final valid + test
            lines.append(
                {
                    "row": key,
                    "direction": direction,
                    "epoch_seconds": round(s_epoch, 2),
                    "validation_seconds": round(s_valid, 2),
                    "epochs": n,
                    "epochs_recorded": (key, direction) in epochs,
                    "run_hours": seconds / 3600,
                }
            )
            print(
                f"{key:<22} {direction:<13} {s_epoch:6.1f} s/epoch  {s_valid:5.1f} s/validation  "
                f"{n:5.0f} epochs{'' if (key, direction) in epochs else ' (no record: median)'}  "
                f"{seconds / 3600:5.2f} CPU-h a seed",
                flush=True,
            )
    total = seeds * sum(line["run_hours"] for line in lines)
    m = machine()
    print(f"one full pass, {seeds} seeds: {total:.1f} CPU-hours (1 thread a run; {m.get('cpu')})")
    return {
        "lines": lines,
        "table": table,
        "seeds": seeds,
        "cpu_hours": total,
        "machine": m,
        "steps_timed": steps,
    }
