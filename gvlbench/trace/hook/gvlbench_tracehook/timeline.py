"""`gvlbench trace --timeline`: every thread of the program, recorded from the moment it
imports wasmtime until it exits, by gvlbench's own recorder (gvlbench/binding/timeline.py),
loaded from the harness's copy as the patches are (patches.use_home): its calls through the
native shim's timed wasmtime_func_call, its host callbacks through the shim's timed entry,
and a Store guard's waits (a `--patch store-guard-mutex` program) as the shim logs them. Each
process writes its part, as JSON, beside its records (timeline-PID.json), at exit.

Nothing here may take the program down: a timeline that cannot start says why in one line on
stderr, and the program runs on, traced but unrecorded.
"""

from __future__ import annotations

import atexit
import importlib
import os
import sys

from . import patches


def start(directory: str, home: str) -> str:
    """Record this process from now on: "" when started, else why not."""
    try:
        patches.use_home(home)
        recorder = importlib.import_module("gvlbench.binding.timeline")
        modes = importlib.import_module("gvlbench.modes")
        gil = getattr(sys, "_is_gil_enabled", lambda: True)()
        mode = modes.Mode.RELEASED if gil else modes.Mode.FREE_THREADED
        label = f"pid {os.getpid()}: {' '.join(sys.argv)[:80]}"
        path = os.path.join(directory, f"timeline-{os.getpid()}.json")
        atexit.register(recorder.ProcessTimeline(path, mode, label).finish)
    except Exception as exc:  # the program runs on: the report says what was not recorded
        why = f"{type(exc).__name__}: {exc}"
        print(f"gvlbench trace: no timeline in pid {os.getpid()}: {why}", file=sys.stderr)
        return why
    return ""
