"""The machine a figure depends on and a thread count must respect: the cores this process may use,
the cores other processes keep busy, the CPU's model and instruction-set flags (read once)."""

from __future__ import annotations

import functools
import os
import platform
import time


def available_cores() -> int:
    """The cores this process may run on (respects taskset/cgroup affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


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


def free_cores() -> int:
    """The cores this process may use minus those other processes keep busy now, at least 1: what a
    thread pool should take (a pool that shares a core with a busy process waits on its slowest thread)."""
    return max(1, available_cores() - round(busy_cores()))


@functools.cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    name, flags = platform.processor() or platform.machine() or "unknown", frozenset()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = frozenset(line.split(":", 1)[1].split())
                    break
    except OSError:  # pragma: no cover - not Linux
        pass
    return name, flags


def cpu_flags() -> frozenset[str]:
    return _cpuinfo()[1]


def cpu_model() -> str:
    """The CPU's model name and the instruction sets that matter for speed here."""
    name, flags = _cpuinfo()
    extras = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{name} ({', '.join(extras)})" if extras else name
