"""gvlbench's own patches (`gvlbench trace --patch NAME`), applied in the traced program before
the hook wraps anything, so "does thread-local-exceptions fix my suite?" is one command.

A patch is gvlbench's code (gvlbench/binding/patches.py), which needs only the standard library
and wasmtime. The program's interpreter may not have gvlbench installed, so the package is
loaded by name from the harness's own copy (GVLBENCH_TRACE_GVLBENCH: the directory that holds
it), the top package only: its modules follow from there. This is the one way gvlbench's code
runs in a traced program, and only when a patch is asked for; the hook imports none of it
(lint-imports holds that).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from typing import Any


class _Home:
    """Finds the `gvlbench` package in the harness's directory, before anywhere else."""

    def __init__(self, home: str):
        self.home = home

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "gvlbench":
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [self.home])


def use_home(home: str) -> None:
    """Import `gvlbench` from the harness's copy at `home` from now on (its timeline, too:
    timeline.py)."""
    if (
        home
        and "gvlbench" not in sys.modules
        and not any(isinstance(f, _Home) for f in sys.meta_path)
    ):
        sys.meta_path.insert(0, _Home(home))


def apply(names: list[str], home: str) -> dict[str, str]:
    """Apply gvlbench's patches `names`, in order: each name and "" (applied) or why not."""
    if not names:
        return {}
    use_home(home)
    try:
        patches = importlib.import_module("gvlbench.binding.patches")
        modes = importlib.import_module("gvlbench.modes")
        gil = getattr(sys, "_is_gil_enabled", lambda: True)()
        patches.apply(names, modes.Mode.RELEASED if gil else modes.Mode.FREE_THREADED)
    except Exception as exc:  # the program runs unpatched, and the report says so
        why = f"{type(exc).__name__}: {exc}"
        print(f"gvlbench trace: patches {', '.join(names)} not applied: {why}", file=sys.stderr)
        return dict.fromkeys(names, why)
    return dict.fromkeys(names, "")
