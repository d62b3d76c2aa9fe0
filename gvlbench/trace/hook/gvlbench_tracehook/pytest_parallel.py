"""pytest-run-parallel's own account of a run: which tests ran in N threads, and which in one,
with the plugin's reason for each (a thread-unsafe fixture, a call it distrusts, a marker).

Under `pytest --parallel-threads N` most tests may run in one thread only (119 of 154 in
wasmtime-py's suite on 3.11), and a trace that saw nothing shared there is no evidence; the
report says how many ran in threads, and why the rest did not. The plugin keeps both in its
own instance (`run_in_parallel`, `thread_unsafe`); the hook keeps the instance when the plugin
makes it, and writes what it holds at exit.
"""

from __future__ import annotations

import atexit
import functools
from typing import Any

from . import records

_PLUGINS: list[Any] = []


def install(plugin: Any) -> None:
    """Patch the just-imported `pytest_run_parallel.plugin` module."""
    cls = getattr(plugin, "RunParallelPlugin", None)
    if cls is None or getattr(cls.__init__, "__gvlbench_traced__", False):
        return
    init = cls.__init__

    @functools.wraps(init)
    def traced_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        _PLUGINS.append(self)

    traced_init.__gvlbench_traced__ = True  # type: ignore[attr-defined]
    cls.__init__ = traced_init
    atexit.register(_at_exit)


def _at_exit() -> None:
    for plugin in _PLUGINS:
        try:
            parallel = {str(k): int(v) for k, v in dict(plugin.run_in_parallel).items()}
            one = {str(k): str(v or "") for k, v in dict(plugin.thread_unsafe).items()}
            skipped = bool(getattr(plugin, "skip_thread_unsafe", False))
        except Exception as exc:  # another release of the plugin: say so, never fail the exit
            records.write("hook-error", where="pytest-run-parallel", error=repr(exc))
            continue
        records.write("pytest-parallel", parallel=parallel, one_thread=one, skipped=skipped)
