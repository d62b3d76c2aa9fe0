"""Arm the hook in this process: read the harness's environment (the package's docstring
lists it), open this process's records, and patch wasmtime and every watched module the
moment the program imports them."""

from __future__ import annotations

import atexit
import json
import os

from . import (
    finder,
    hooks,
    libraries,
    patches,
    pytest_parallel,
    records,
    timeline,
    watch,
    watchdog,
)


def start() -> None:
    """Arm the hook in this process (sitecustomize calls this at interpreter start-up)."""
    directory = os.environ["GVLBENCH_TRACE_DIR"]
    on_overlap = os.environ.get("GVLBENCH_TRACE_ON_OVERLAP", "wait")
    watched = watch.load(json.loads(os.environ.get("GVLBENCH_TRACE_WATCH", "[]")))
    asked = [n for n in os.environ.get("GVLBENCH_TRACE_PATCHES", "").split(",") if n]
    home = os.environ.get("GVLBENCH_TRACE_GVLBENCH", "")
    records.open_process(directory)
    alive = os.environ.get("GVLBENCH_TRACE_ALIVE")
    if alive:
        watchdog.start(alive)

    def on_wasmtime(module: object) -> None:
        with finder.held():  # what the patches import is watched after they are applied
            applied = patches.apply(asked, home)
        hooks.install(module, on_overlap, applied)
        watch.install(module, watched)
        if os.environ.get("GVLBENCH_TRACE_TIMELINE"):  # last: its timed call under the rest
            with finder.held():
                timeline.start(directory, home)

    finder.on_import("wasmtime", on_wasmtime)
    for name in watch.modules(watched):
        if name != "wasmtime":
            finder.on_import(name, lambda module: watch.install(module, watched))
    atexit.register(libraries.write)
    atexit.register(pytest_parallel.write)
