"""What the machine gave a measuring child while it ran, from /proc/stat.

A lock verdict assumes the machine could run the child's threads at once. On a shared host
it may not: the hypervisor steals CPU (the `steal` column: time a vCPU was ready and not
run), and other processes take cores. Both are read from the machine's CPU counters at the
child's start and end and kept on the rows it measured, in cores over its run: `steal_cpus`
(stolen), `other_cpus` (used by anything but the child: the machine's busy time less the
child's own CPU time), out of `cpus`. They explain an unsure verdict; the control
(binding/control.py) decides it. Without /proc (not Linux) there is nothing to record.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# /proc/stat's first line: cpu user nice system idle iowait irq softirq steal guest guest_nice
_BUSY = (0, 1, 2, 5, 6)  # user nice system irq softirq (guest time is inside user)
_STEAL = 7


@dataclass(frozen=True)
class Counters:
    wall_s: float
    ticks: tuple[int, ...]


def counters() -> Counters | None:
    """The machine's CPU counters now; None where /proc/stat cannot be read."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != b"cpu" or len(fields) < 9:
        return None
    return Counters(time.monotonic(), tuple(int(v) for v in fields[1:9]))


def share(before: Counters | None, child_cpu_s: float | None) -> dict[str, Any] | None:
    """Cores stolen and used by others, on average, since `before`; None without counters
    or without the child's own CPU time (which only the keeper knows)."""
    after = counters()
    if before is None or after is None or child_cpu_s is None:
        return None
    wall_s = after.wall_s - before.wall_s
    if wall_s <= 0:
        return None
    delta = [b - a for a, b in zip(before.ticks, after.ticks, strict=True)]
    busy_s = sum(delta[i] for i in _BUSY) / _CLK_TCK
    return {
        "cpus": os.cpu_count() or 1,
        "wall_s": round(wall_s, 3),
        "steal_cpus": round(delta[_STEAL] / _CLK_TCK / wall_s, 3),
        "other_cpus": round(max(0.0, busy_s - child_cpu_s) / wall_s, 3),
    }
