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


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat", encoding="utf-8") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields), idle


def busy_cores(sample_s: float = 0.25) -> float:
    """Cores kept busy by other processes now: /proc/stat sampled over ``sample_s`` (this process
    sleeps meanwhile), else the 1-minute load average, else 0."""
    import time

    first = _cpu_times()
    if first is not None:
        time.sleep(sample_s)
        second = _cpu_times()
        total, idle = second[0] - first[0], second[1] - first[1]
        if total > 0:
            return available_cores() * (total - idle) / total
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not Unix
        return 0.0


def choose_threads(requested: int = 0) -> int:
    """``requested`` when > 0, else the cores not in use (at least 1)."""
    if requested > 0:
        return requested
    return max(1, available_cores() - round(busy_cores()))


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


def cpu_model() -> str:
    """The CPU's model name and the instruction sets that matter for speed here."""
    name = platform.processor() or platform.machine()
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    extras = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{name} ({', '.join(extras)})" if extras else name


def machine() -> dict:
    """What a figure depends on: the CPU, its cores, the threads torch uses."""
    import torch

    return {
        "cpu": cpu_model(),
        "cores": available_cores(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
