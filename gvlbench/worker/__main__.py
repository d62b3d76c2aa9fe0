"""The measuring child's entry point: one task as JSON on stdin, one answer as JSON on stdout.

    python -m gvlbench.worker < task.json > answer.json

The answer is `{"protocol": 1, "ok": true, "kind": ..., ...}` or `{"ok": false, "error":
{"type", "message"}}`. A crash is no answer at all: the harness reads the exit status and
stderr. Anything printed on stdout other than the answer would corrupt the protocol (pyperf
prints there, so does user code), so stdout is moved onto stderr first and the answer goes to
the saved descriptor. See docs/protocol.md.

pyperf re-launches this module with `--worker` for the processes that time a bench task.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from gvlbench.protocol import PROTOCOL, Task, parse_task


def _handler(kind: str) -> Callable[[Any], dict[str, Any]]:
    """The module that answers `kind`, imported only when needed."""
    if kind == "bench":
        from gvlbench.worker.bench import run_bench as fn
    elif kind == "speedup":
        from gvlbench.worker.speedup import measure as fn
    elif kind == "progress":
        from gvlbench.worker.progress import run_progress as fn
    elif kind == "race":
        fn = _race
    elif kind == "guard-cost":
        from gvlbench.worker.guard_cost import measure as fn
    elif kind == "check":
        from gvlbench.worker.checks import run_check as fn
    elif kind == "pool":
        from gvlbench.worker.pool import run_pool as fn
    elif kind == "calls":
        from gvlbench.worker.calls import measure as fn
    elif kind == "sweep-point":
        from gvlbench.worker.sweep import measure_point as fn
    elif kind == "phases":
        from gvlbench.worker.phases import run_phases as fn
    elif kind == "code-probe":
        from gvlbench.worker.code import probe as fn
    elif kind == "profile":
        from gvlbench.worker.profile import run_profile as fn
    elif kind == "legal-uses":
        from gvlbench.worker.legal_uses import try_legal_uses as fn
    else:
        raise ValueError(f"no handler for task kind {kind!r}")
    return fn


def _race(task: Any) -> dict[str, Any]:
    """A Store raced from N threads, or one entry point raced against the Store's owner."""
    if task.entry:
        from gvlbench.worker.entry_race import run_entry_race

        return run_entry_race(task)
    from gvlbench.worker.race import run_trial

    return run_trial(task)


def answer(task: Task) -> dict[str, Any]:
    check_modes(task)
    apply_patches(task)
    return {"protocol": PROTOCOL, "ok": True, "kind": task.kind, **_handler(task.kind)(task)}


def check_modes(task: Task) -> None:
    """A mode this interpreter does not have is refused, never measured under a false name:
    `held` means nothing without a GIL, and `free-threaded` nothing with one."""
    from gvlbench.modes import Mode

    is_enabled = getattr(sys, "_is_gil_enabled", None)
    has_gil = is_enabled is None or is_enabled()
    for mode in (getattr(task, "mode", None), *getattr(task, "modes", ())):
        if mode is not None and Mode(mode).has_gil != has_gil:
            where = "has a GIL" if has_gil else "is free-threaded (no GIL)"
            raise ValueError(f"mode {mode} asked of Python {sys.version.split()[0]}, which {where}")


def apply_patches(task: Task) -> None:
    """The task's binding patches, before anything else touches wasmtime-py: whatever the
    target (a scenario's stock calls go through the patched Func.__call__ too)."""
    names = getattr(task, "patches", ())
    if names:
        from gvlbench.binding import patches
        from gvlbench.protocol import Mode

        patches.apply(names, getattr(task, "mode", None) or Mode.RELEASED)


def main() -> None:
    # The harness sends SIGUSR1 before it kills a child whose CPU stood still (a deadlock):
    # every thread's Python stack goes to stderr, where it reads them.
    faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
    if "--worker" in sys.argv:  # a pyperf worker: it dies with the measuring child
        from gvlbench.lifecycle import die_with_parent

        die_with_parent()
        from gvlbench.worker.bench import pyperf_worker

        pyperf_worker()
        return
    answer_fd = os.dup(1)
    os.dup2(2, 1)
    from gvlbench.worker.bench import WorkerDied, die_like

    try:
        doc, code = answer(parse_task(json.load(sys.stdin))), 0
    except WorkerDied as died:
        die_like(died.exitcode)
        raise
    except Exception as exc:  # reported as data: the harness decides what it means
        doc = {"protocol": PROTOCOL, "ok": False, "error": _error(exc)}
        code = 1
    os.write(answer_fd, (json.dumps(doc) + "\n").encode())
    sys.exit(code)


def _error(exc: BaseException) -> dict[str, str]:
    return {"type": type(exc).__name__, "message": str(exc)}


if __name__ == "__main__":
    main()
