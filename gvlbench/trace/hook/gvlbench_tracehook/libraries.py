"""The shared libraries a process ran code from, written at its exit: the harness finds which
carry a Wasm engine (gvlbench/engines.py), and names any it watched no object of, so a program
that ran an engine trace cannot watch is told which library and which engine, not that it is
in the wrong environment."""

from __future__ import annotations

from . import records


def write() -> None:
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    paths = []
    for line in lines:
        parts = line.split(None, 5)
        if len(parts) == 6 and "x" in parts[1] and parts[5].startswith("/"):
            path = parts[5].strip()
            if not path.endswith(" (deleted)"):
                paths.append(path)
    records.write("libraries", paths=list(dict.fromkeys(paths)))
