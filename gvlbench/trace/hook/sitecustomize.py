"""`gvlbench trace`'s start-up hook, loaded by every Python process of a traced command.

`gvlbench trace` puts this directory first on PYTHONPATH, so the interpreter imports this
module at start-up (site.py imports `sitecustomize`) before any of the program's code, and
every child process of the command inherits it. It arms the trace hook (gvlbench_tracehook)
only when the harness asked for it (GVLBENCH_TRACE_DIR), then runs the sitecustomize it
shadows, if the interpreter has one, so the program's environment is otherwise unchanged.

Nothing here may take the program down: a hook that cannot start says so in one line on
stderr and the program runs untraced.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _arm() -> None:
    if not os.environ.get("GVLBENCH_TRACE_DIR"):
        return
    try:
        from gvlbench_tracehook import arm

        arm.start()
    except Exception as exc:  # the user's program runs on, untraced, and says why
        print(f"gvlbench trace: hook not started in pid {os.getpid()}: {exc!r}", file=sys.stderr)


def _chain() -> None:
    """Run the sitecustomize this one shadows (a distribution's or a venv's), as Python
    would have without us; later `import sitecustomize` then finds that one."""
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_arm()
_chain()
