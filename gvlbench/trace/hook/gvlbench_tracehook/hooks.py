"""wasmtime-py's own classes, patched the moment the program imports wasmtime.

The entry points of every watched object, wasmtime's Store among them, are watch.py's; what
is wasmtime's alone is here:

- `Store.__init__` gives each Store its state and records where it was made; `Store._delete`
  (close, or collection) is an entry too, then its end;
- `Module.__init__` records the hash of the bytes it compiles, and the time: the same bytes
  compiled twice in one process is a compile per call;
- `Engine.__init__` records where each Engine was made: several from one line, an Engine
  per call;
- a host callback's exception, handed to the calling thread through a module global, is
  followed to the thread that takes it (handoff.py);
- at exit, what an entry through the hook costs (overhead.py).
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from . import clock, frames, handoff, overhead, records, state
from .watch import ATTR


def install(wasmtime: Any, on_overlap: str, patches: dict[str, str]) -> None:
    """Patch the just-imported wasmtime module (once per process). `patches`: gvlbench's
    patches asked for, each "" if applied, else why not."""
    if getattr(wasmtime.Store.__init__, "__gvlbench_traced__", False):
        return
    frames.set_wasmtime_dir(os.path.dirname(wasmtime.__file__))
    state.configure(on_overlap)
    _hook_store(wasmtime.Store)
    _hook_module(wasmtime.Module)
    _hook_engine(wasmtime.Engine)
    handoff.install(wasmtime)
    records.write("wasmtime", version=_version(wasmtime), file=wasmtime.__file__,
                  on_overlap=on_overlap, patches=patches)  # fmt: skip
    atexit.register(_at_exit, wasmtime)


def _traced(fn: Callable[..., Any], wrapper: Callable[..., Any]) -> Callable[..., Any]:
    functools.update_wrapper(wrapper, fn)
    wrapper.__gvlbench_traced__ = True  # type: ignore[attr-defined]
    return wrapper


def _hook_store(cls: Any) -> None:
    init, delete = cls.__init__, cls._delete

    def traced_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        setattr(self, ATTR, state.new_store(self, sys._getframe(1)))

    def traced_delete(self: Any, ptr: Any) -> None:
        st = self.__dict__.get(ATTR)
        if st is None or st.ended:  # not ours, or collected after the program's end
            delete(self, ptr)
            return
        held = st.closing(self)
        try:
            delete(self, ptr)
        finally:
            if held:
                st.leave()
            else:
                st.step_out()
            start = clock.now()
            st.end("closed")
            clock.add(start)

    cls.__init__ = _traced(init, traced_init)
    cls._delete = _traced(delete, traced_delete)


def _hook_module(cls: Any) -> None:
    init = cls.__init__

    def traced_init(self: Any, *args: Any, **kwargs: Any) -> None:
        start = time.perf_counter_ns()
        init(self, *args, **kwargs)
        compile_ns = time.perf_counter_ns() - start
        wasm = args[1] if len(args) > 1 else kwargs.get("wasm")
        if state.PRIVATE[0] or not isinstance(wasm, (str, bytes, bytearray, memoryview)):
            return
        start = clock.now()
        data = wasm.encode() if isinstance(wasm, str) else wasm
        records.write("module", sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                      compile_ns=compile_ns, thread=threading.get_native_id(),
                      stack=frames.capture(sys._getframe(1)))  # fmt: skip
        clock.add(start)

    cls.__init__ = _traced(init, traced_init)


def _hook_engine(cls: Any) -> None:
    init = cls.__init__

    def traced_init(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if not state.PRIVATE[0]:
            start = clock.now()
            records.write("engine", thread=threading.get_native_id(),
                          stack=frames.capture(sys._getframe(1)))  # fmt: skip
            clock.add(start)

    cls.__init__ = _traced(init, traced_init)


def _version(wasmtime: Any) -> str:
    """The installed wasmtime's version, from its dist-info next to it (no importlib.metadata:
    that costs the program tens of milliseconds)."""
    parent = os.path.dirname(os.path.dirname(wasmtime.__file__))
    try:
        for name in os.listdir(parent):
            if name.startswith("wasmtime-") and name.endswith(".dist-info"):
                return name[len("wasmtime-") : -len(".dist-info")]
    except OSError:
        pass
    return "unknown"


def _at_exit(wasmtime: Any) -> None:
    """The Stores still alive, then what an entry through the hook costs in this process."""
    try:
        start = clock.now()
        for st in state.live():
            st.end("alive at exit")
        overhead.measure(wasmtime, start)
    except Exception as exc:  # at exit: say it, never fail the program's exit
        records.write("hook-error", where="exit", error=repr(exc))
