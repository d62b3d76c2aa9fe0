"""pytest-run-parallel's own account of a run: which tests ran in N threads, and which in one,
with the plugin's reason for each (a thread-unsafe fixture, a call it distrusts, a marker).

Under `pytest --parallel-threads N` most tests may run in one thread only (119 of 154 in
wasmtime-py's suite on 3.11), and a trace that saw nothing shared there is no evidence; the
report says how many ran in threads, and why the rest did not. The plugin keeps both in its
own instance (`run_in_parallel`, `thread_unsafe`), which is found at exit among the objects
that refer to its class: pytest imports the plugin through its own import hook (it rewrites
a plugin's asserts), in front of the trace's, so the class cannot be patched as it loads.
"""

from __future__ import annotations

import gc
import sys

from . import records


def write() -> None:
    """At exit: a `pytest-parallel` record per plugin instance this process made."""
    plugin = sys.modules.get("pytest_run_parallel.plugin")
    cls = getattr(plugin, "RunParallelPlugin", None)
    if cls is None:
        return
    for found in [o for o in gc.get_referrers(cls) if isinstance(o, cls)]:
        try:
            parallel = {str(k): int(v) for k, v in dict(found.run_in_parallel).items()}
            one = {str(k): str(v or "") for k, v in dict(found.thread_unsafe).items()}
            skipped = bool(getattr(found, "skip_thread_unsafe", False))
        except Exception as exc:  # another release of the plugin: say so, never fail the exit
            records.write("hook-error", where="pytest-run-parallel", error=repr(exc))
            continue
        records.write("pytest-parallel", parallel=parallel, one_thread=one, skipped=skipped)
