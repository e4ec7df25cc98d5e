"""How many threads torch may use, chosen before it starts its pools.

torch's intra-op pool spins on every core it was given; when another process is busy on one of the
two cores, a 2-thread pool spends most of its time waiting for the slower thread (a minute-long
check took 9.5 min beside one busy process). ``threads = 0`` (the default) takes the cores that
are not busy now: the process's cores minus those other processes kept busy over a quarter of a
second (/proc/stat), at least 1.

"""

from __future__ import annotations

import os
import platform

from semacdr_cli.machine import available_cores, cpu_model, free_cores


def choose_threads(requested: int = 0) -> int:
    """``requested`` when > 0, else the cores not in use (at least 1)."""
    if requested > 0:
        return requested
    return free_cores()


def apply_threads(requested: int = 0) -> int:
    """Set torch's intra-op threads (and inter-op ones while torch has not started its pools yet);
    returns the number applied."""
    n = choose_threads(requested)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # the inter-op pool already started (an earlier run in this process)
        pass
    return n


def machine() -> dict:
    """What a figure depends on: the CPU, its cores, the threads torch uses."""
    import torch

    return {
        "cpu": cpu_model(),
        "cores": available_cores(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
