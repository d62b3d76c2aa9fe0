"""Where a statement's time goes inside wasmtime-py: hooks on the binding's public classes.

Installed in a measuring child before the user's setup runs, each hook times its method and
charges the time to one phase, exclusively: a stack per thread means a host callback inside a
Wasm call, or a memory read inside a callback, is charged to itself and not also to the call
around it. What no hook claims is the statement's own Python (its share is the remainder).

- compile: Engine and Module creation (wat2wasm, validate and deserialize included);
- instantiate: Store, Linker, instance and WASI set-up, and a Store's teardown;
- wasm: inside `Func.__call__` (the Wasm code, and wasmtime-py's argument and result glue);
- binding: the binding's other calls that touch a Store (memory, globals, tables, fuel,
  exports, a Caller's lookups);
- host: Python host functions Wasm called back into (defined with Func or Linker.define_func),
  and WASI's custom stdout/stderr callbacks. Those run on a wasmtime thread, not the caller's,
  so their time overlaps the Wasm call that wrote (it is not subtracted from it).

Hooks cost about a microsecond each, so the profile also times the statement unhooked, in
rounds alternating with the hooked ones, and says how far the hooks slowed it.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import wasmtime

from gvlbench.binding import internals

InstanceExports = internals.instance_exports_class()

PHASES = ("compile", "instantiate", "wasm", "binding", "host")

# (class, method, phase): every public entry point of wasmtime-py worth a phase of its own
_HOOKS: tuple[tuple[Any, str, str], ...] = (
    *((wasmtime.Engine, m, "compile") for m in ("__init__",)),
    *(
        (wasmtime.Module, m, "compile")
        for m in ("__init__", "deserialize", "deserialize_file", "validate", "serialize")
    ),
    *((wasmtime.Store, m, "instantiate") for m in ("__init__", "set_wasi", "_delete")),
    *(
        (wasmtime.Linker, m, "instantiate")
        for m in (
            "__init__",
            "define",
            "define_func",
            "define_wasi",
            "define_instance",
            "define_module",
            "instantiate",
        )
    ),
    (wasmtime.Instance, "__init__", "instantiate"),
    (wasmtime.WasiConfig, "__init__", "instantiate"),
    (wasmtime.Func, "__call__", "wasm"),
    *(
        (wasmtime.Memory, m, "binding")
        for m in ("read", "write", "grow", "size", "data_ptr", "data_len", "get_buffer_ptr", "type")
    ),
    *((wasmtime.Global, m, "binding") for m in ("value", "set_value", "type")),
    *((wasmtime.Table, m, "binding") for m in ("get", "set", "grow", "size", "type")),
    *(
        (wasmtime.Store, m, "binding")
        for m in ("get_fuel", "set_fuel", "set_epoch_deadline", "gc", "set_limits")
    ),
    (wasmtime.Instance, "exports", "binding"),
    *((InstanceExports, m, "binding") for m in ("__getitem__", "by_index")),
    *((wasmtime.Caller, m, "binding") for m in ("__getitem__", "get")),
)  # fmt: skip  (not Func.type: Func.__call__ asks it on every call, as part of the call)


class Profiler:
    """Exclusive time and entries per phase, summed over threads, while `enabled`. An entry
    is counted where the phase is entered from another one, so wasmtime-py's methods calling
    each other inside a phase count once."""

    def __init__(self) -> None:
        self.enabled = False
        self.ns: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._local = threading.local()

    def reset(self) -> None:
        self.ns.clear()
        self.calls.clear()

    def _stack(self) -> list[list[Any]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def enter(self, phase: str) -> None:
        stack, now = self._stack(), time.perf_counter_ns()
        if stack:
            top = stack[-1]
            self.ns[top[0]] += now - top[1]
        if not stack or stack[-1][0] != phase:  # Memory.read calling data_ptr is one entry
            self.calls[phase] += 1
        stack.append([phase, now])

    def exit(self) -> None:
        stack, now = self._stack(), time.perf_counter_ns()
        phase, since = stack.pop()
        self.ns[phase] += now - since
        if stack:
            stack[-1][1] = now

    def timed(self, fn: Callable[..., Any], phase: str) -> Callable[..., Any]:
        """`fn` charging its time to `phase` while the profiler is enabled."""

        @functools.wraps(fn)
        def hooked(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled:
                return fn(*args, **kwargs)
            self.enter(phase)
            try:
                return fn(*args, **kwargs)
            finally:
                self.exit()

        return hooked


PROFILER = Profiler()
_INSTALLED: list[bool] = []


def _wrap_attr(cls: Any, name: str, phase: str) -> None:
    raw = cls.__dict__.get(name)
    if raw is None:
        return
    if isinstance(raw, classmethod):
        setattr(cls, name, classmethod(PROFILER.timed(raw.__func__, phase)))
    elif isinstance(raw, staticmethod):
        setattr(cls, name, staticmethod(PROFILER.timed(raw.__func__, phase)))
    else:
        setattr(cls, name, PROFILER.timed(raw, phase))


def _host_hooks() -> None:
    """Host functions are the user's Python, called from Wasm: wrapped where they are given
    to wasmtime-py (Func(store, ty, func) and Linker.define_func(module, name, ty, func))."""
    func_init = wasmtime.Func.__init__
    define_func = wasmtime.Linker.define_func

    @functools.wraps(func_init)
    def func_init_hooked(self: Any, store: Any, ty: Any, func: Any, *args: Any, **kw: Any) -> Any:
        return func_init(self, store, ty, PROFILER.timed(func, "host"), *args, **kw)

    @functools.wraps(define_func)
    def define_func_hooked(self: Any, module: str, name: str, ty: Any, func: Any, *args: Any,
                           **kw: Any) -> Any:  # fmt: skip
        return define_func(self, module, name, ty, PROFILER.timed(func, "host"), *args, **kw)

    wasmtime.Func.__init__ = func_init_hooked  # type: ignore[method-assign]
    wasmtime.Linker.define_func = define_func_hooked  # type: ignore[method-assign]
    for name in ("stdout_custom", "stderr_custom"):  # WASI output, called from a wasmtime thread
        prop = wasmtime.WasiConfig.__dict__.get(name)
        if isinstance(prop, property) and prop.fset is not None:
            setattr(wasmtime.WasiConfig, name, property(prop.fget, _hooked_setter(prop.fset)))


def _hooked_setter(fset: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    def setter(self: Any, callback: Any) -> None:
        fset(self, PROFILER.timed(callback, "host"))

    return setter


def install() -> Profiler:
    """Hook wasmtime-py's classes (once per process) and return the profiler, disabled."""
    if not _INSTALLED:
        _host_hooks()  # first: define_func's own time is then hooked around the wrapper
        for cls, name, phase in _HOOKS:
            _wrap_attr(cls, name, phase)
        wasmtime.wat2wasm = PROFILER.timed(wasmtime.wat2wasm, "compile")
        _INSTALLED.append(True)
    return PROFILER
