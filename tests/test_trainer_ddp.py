"""Under torchrun with two processes the same command trains with DistributedDataParallel (gloo, CPU)."""

import json
import os
import subprocess
import sys

import pytest
from trainer_synth import build_store

from semacdr_cli.store import Store
from semacdr_cli.store import training as q


@pytest.mark.slow
def test_two_process_gloo_run_trains_and_registers_one_run(tmp_path):
    store = build_store(tmp_path / "s.db", users=60, semantics=False)
    env = {**os.environ, "SEMACDR_DDP_BACKEND": "gloo", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port=29533",
        "-m",
        "semacdr_cli",
        "train",
        "--db",
        store,
        "--source",
        "kitchen",
        "--target",
        "food",
        "--ablation",
        "no-semantics",
        "--epochs",
        "2",
        "--repeat",
        "1",
        "--device",
        "cpu",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--json",
    ]
    res = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)  # only rank 0 prints
    with Store(store, create=False) as s:
        runs = q.list_runs(s)
    assert len(runs) == 1 and runs[0]["id"] == out["run"] and runs[0]["status"] == "finished"
    lines = (tmp_path / "runs" / f"run-{out['run']:04d}" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [0, 1]
