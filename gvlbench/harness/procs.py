"""Every process on the machine, read from /proc: what the runner's deadlock watch and the
trace's process tree both need, read one way."""

from __future__ import annotations

import os
from collections.abc import Iterator


def stats() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, the fields of /proc/PID/stat after "(comm)": state, ppid, pgrp, session, ...)
    for every process still there; nothing without /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                yield int(name), f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
