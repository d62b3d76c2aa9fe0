"""The trace hook: watches every wasmtime Store of a Python process, from its start-up.

This package runs inside the traced program, whose interpreter may not have gvlbench
installed (a free-threaded venv holds wasmtime and little else), so it imports nothing but
the standard library and, once the program imports it, wasmtime. The harness talks to it
only through environment variables, read once here:

- GVLBENCH_TRACE_DIR: where this process writes its records (one JSON-lines file per process,
  each record written with one unbuffered write, so a crash loses nothing written before it);
- GVLBENCH_TRACE_ON_OVERLAP: what a thread entering a Store another thread is inside does:
  `wait` for it to leave (the program lives), `refuse` (StoreInUseError) or `proceed`
  (record only: the undefined behaviour happens);
- GVLBENCH_TRACE_ENTRY_POINTS: the wasmtime-py methods that enter a Store, as JSON
  [class, method, index of the Store argument], from gvlbench's store-guard patch;
- GVLBENCH_TRACE_ALIVE: a FIFO the harness holds open; when it closes (the harness died,
  whatever the signal), this process kills its process group.

wasmtime is patched the moment it is imported (an import hook), not at start-up, so a
process that never uses it never loads libwasmtime.
"""

from __future__ import annotations

import json
import os

from . import finder, hooks, records, watchdog


def start() -> None:
    """Arm the hook in this process (sitecustomize calls this at interpreter start-up)."""
    directory = os.environ["GVLBENCH_TRACE_DIR"]
    on_overlap = os.environ.get("GVLBENCH_TRACE_ON_OVERLAP", "wait")
    entry_points = json.loads(os.environ.get("GVLBENCH_TRACE_ENTRY_POINTS", "[]"))
    records.open_process(directory)
    alive = os.environ.get("GVLBENCH_TRACE_ALIVE")
    if alive:
        watchdog.start(alive)
    finder.on_import("wasmtime", lambda module: hooks.install(module, entry_points, on_overlap))
