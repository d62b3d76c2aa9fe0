"""wasmtime-py's core API: the binding gvlbench was built on.

wasmtime-py loads libwasmtime with `ctypes.cdll`, so every foreign call releases the GIL.
gvlbench holds it by calling the very same C function from the very same file through a
`ctypes.PyDLL` handle; everything else on the call path is shared, so the ratio of the two
modes is the lock's effect. Four call paths price wasmtime-py's own code (`stock` is its
public `Func.__call__`; `lean`, `raw` and `floor` are gvlbench's, binding/invoke.py). Every
gvlbench feature was written for this binding first, so it lacks none.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from gvlbench.bindings.base import Binding, Capabilities, Feature, Form, Instance, Watch
from gvlbench.modes import Mode

CAPABILITIES = Capabilities(
    forms=frozenset({Form.MODULE, Form.CODE}),
    modes={
        Mode.HELD: "wasmtime_func_call through a ctypes.PyDLL handle of wasmtime-py's own "
        "library: the GIL is kept for the whole call",
        Mode.RELEASED: "through ctypes.CDLL, as wasmtime-py ships: ctypes drops the GIL "
        "around every foreign call",
        Mode.FREE_THREADED: "a free-threaded CPython: no lock to keep or drop",
    },
    features=frozenset(Feature),
    call_paths=("stock", "lean", "raw", "floor"),
)


class WasmtimePy(Binding):
    name = "wasmtime-py"
    summary = "wasmtime-py's core API (Store, Module, Instance, Func) over ctypes"
    capabilities = CAPABILITIES
    driver = __name__
    runs_wasmtime_py = True
    libraries = r"/wasmtime/[^/]+/_?libwasmtime\.(so|dylib|dll)$"
    watched = (Watch("wasmtime:Store", ("*",), "a wasmtime-py Store, through every entry "
                     "point that takes it"),)  # fmt: skip

    def watch_points(self, watch: Watch) -> list[tuple[str, str, str, int]]:
        """The Store's entry points are the store-guard patch's own list (the trace and the
        guard agree on what entering a Store means), with `Instance(...)`, which runs a
        module's start function inside the Store, should that list ever lack it."""
        if watch.methods != ("*",):
            return super().watch_points(watch)
        from gvlbench.binding.patches import STORE_ENTRY_POINTS

        points = [("wasmtime", cls.__name__, name, index)
                  for cls, name, index in STORE_ENTRY_POINTS]  # fmt: skip
        instance = ("wasmtime", "Instance", "__init__", 1)
        return points + ([instance] if instance not in points else [])


BINDING = WasmtimePy()


class Driver:
    """The child's half: wasmtime-py's process-wide binding pointed per mode, and one Store
    with the module instantiated per thread (binding/embed.py)."""

    def validate(self, target: Any) -> None:
        from gvlbench.binding.embed import engine_for, load_module, validate

        validate(load_module(engine_for(target), target.wasm_path), target)

    def use_mode(self, mode: Mode) -> None:
        from gvlbench.binding import component_calls
        from gvlbench.binding.invoke import use_stock_mode

        use_stock_mode(mode)
        # a --stmt may call wasmtime-py's component model too: its call, held or not alike
        component_calls.use_mode(mode)

    def count_calls(self) -> Callable[[], int] | None:
        if "wasmtime" not in sys.modules:
            return None
        from gvlbench.binding import internals

        return internals.count_func_calls()

    def instances(
        self, target: Any, mode: Mode, call_path: str, n: int, contexts: Sequence[Any] | None
    ) -> list[Instance]:
        from gvlbench.binding.embed import make_embeddings
        from gvlbench.binding.invoke import CallPath

        return list(make_embeddings(target, mode, CallPath(call_path), n, contexts))


DRIVER = Driver()
