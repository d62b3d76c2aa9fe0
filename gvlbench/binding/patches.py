"""Binding patches: changes to wasmtime-py applied inside a measuring child, by name.

A patch is what a fix to the binding would do, applied to the unmodified package, so a user
can see what it fixes and what it costs before anyone writes it into wasmtime-py:

- `store-guard`: every wasmtime-py entry point that touches a Store goes through the
  owner-thread guard (binding/guard.py), whichever Store the code uses: Func calls, Memory
  read/write/grow/size/data, Global get/set, Table operations, Store fuel/epoch/gc, Instance
  exports and Linker.instantiate, and the component model's Func call and type, Instance
  export lookups, Linker.instantiate and resource conversions (not post_return, a no-op
  since wasmtime 42, which a refusal would turn into an error). A second thread is refused
  with StoreInUseError naming the Store and both threads; the owning thread may re-enter (a
  host callback calling back in).
  It turns the shared-Store crash into an exception in a package that does not know about it.
- `store-guard-native` (and `store-guard-affinity`, `store-guard-mutex`): the same entry
  points guarded in C (gvlbench/native/guard.c) instead: every wasmtime-py binding of a Store
  entry point is pointed at the native shim, and every Store made from then on gets a guard
  of that design. The owner word refuses a second thread and admits moves and re-entry;
  affinity refuses every thread but the Store's creator; the mutex makes a second thread wait.
  Memory.read/write become one guarded entry each (the pointer is used inside the guard).
- `thread-local-exceptions`: a host callback's exception is handed to the caller through a
  per-thread slot instead of wasmtime-py's module-global LAST_EXCEPTION, which another
  thread's callback can overwrite or take (the known defect exceptions-concurrent); the
  component model's own slot (wasmtime/component/_enter.py) is kept per thread too.

Patches are applied before the code under test defines its host functions and Stores, and
they are named in the results' metadata.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wasmtime

from gvlbench.binding import internals
from gvlbench.binding.guard import StoreGuard
from gvlbench.protocol import Mode


@dataclass(frozen=True)
class Patch:
    name: str
    doc: str
    apply: Callable[[Mode], None]  # given the mode the process calls Wasm in


_GUARDS: weakref.WeakKeyDictionary[wasmtime.Store, StoreGuard] = weakref.WeakKeyDictionary()
_APPLIED: list[str] = []


def guard_of(store: wasmtime.Store) -> StoreGuard:
    """The Store's guard, made on first use (named after the Store's id)."""
    guard = _GUARDS.get(store)
    if guard is None:
        guard = _GUARDS.setdefault(store, StoreGuard(f"Store@{id(store):#x}"))
    return guard


def _guarded(method: Callable[..., Any], operation: str, store_arg: int) -> Callable[..., Any]:
    """`method` entered through the guard of the Store in argument `store_arg` (0: self). A
    Caller (inside a host callback, already within a guarded call on its own thread) passes."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        store = args[store_arg] if len(args) > store_arg else kwargs.get("store")
        if not isinstance(store, wasmtime.Store):
            return method(*args, **kwargs)
        guard = _GUARDS.get(store) or guard_of(store)
        if not guard.acquire(False):  # the lock itself, not a context manager: ~1 us less
            guard.refuse(operation)
        try:
            return method(*args, **kwargs)
        finally:
            guard.release()

    wrapper.__gvlbench_patched__ = True  # type: ignore[attr-defined]
    return wrapper


# (class, method, the index of the Store argument: 0 is self, 1 the first parameter)
STORE_ENTRY_POINTS: tuple[tuple[type, str, int], ...] = (
    (wasmtime.Func, "__call__", 1),
    *((wasmtime.Memory, m, 1) for m in ("read", "write", "grow", "size", "data_ptr",
                                        "data_len", "get_buffer_ptr")),
    *((wasmtime.Global, m, 1) for m in ("value", "set_value")),
    *((wasmtime.Table, m, 1) for m in ("get", "set", "grow", "size")),
    *((wasmtime.Store, m, 0) for m in ("get_fuel", "set_fuel", "set_epoch_deadline", "gc")),
    (wasmtime.Instance, "exports", 1),
    (wasmtime.Linker, "instantiate", 1),
    # making things in a Store: instantiation, host functions, globals, memories, tables,
    # WASI; and reading a Store object's type
    *((cls, "__init__", 1) for cls in (wasmtime.Instance, wasmtime.Func, wasmtime.Global,
                                       wasmtime.Memory, wasmtime.Table)),
    (wasmtime.Store, "set_wasi", 0),
    *((cls, "type", 1) for cls in (wasmtime.Func, wasmtime.Global, wasmtime.Memory,
                                   wasmtime.Table)),
)  # fmt: skip


_ORIGINALS: dict[tuple[type, str], Any] = {}  # what _store_guard wrapped, for remove_store_guard


def _store_guard(mode: Mode) -> None:
    from gvlbench.binding import component_calls  # the component model's classes, likewise

    for cls, name, store_arg in STORE_ENTRY_POINTS + component_calls.store_entry_points():
        method = getattr(cls, name, None)
        if method is None or getattr(method, "__gvlbench_patched__", False):
            continue
        _ORIGINALS[(cls, name)] = method
        setattr(cls, name, _guarded(method, f"{cls.__name__}.{name}", store_arg))


def remove_store_guard() -> None:
    """Undo `store-guard` (for pricing every design on the same objects in one process)."""
    for (cls, name), method in _ORIGINALS.items():
        setattr(cls, name, method)
    _ORIGINALS.clear()
    if "store-guard" in _APPLIED:
        _APPLIED.remove("store-guard")


def native_guards() -> list[Any]:
    """The native guards the native patches put on the Stores still alive."""
    return list(_NATIVE.values())


_DESIGN: dict[str, str | None] = {"native": None}  # the design new Stores get (None: none)


def set_native_design(design: str | None) -> None:
    """After a native patch: the design every guard has from now on, and new Stores get
    (None: new Stores get no guard). For pricing every design on the same objects."""
    _DESIGN["native"] = design
    for guard in native_guards():
        if design is not None:
            guard.redesign(design)


def _native_store_guard(design: str) -> Callable[[Mode], None]:
    def apply(mode: Mode) -> None:
        # the shim is built and loaded only when asked for
        from gvlbench.binding import native_guard, native_stock

        native_guard.available()
        native_stock.use_stock(mode)
        init, delete = wasmtime.Store.__init__, wasmtime.Store._delete
        if getattr(init, "__gvlbench_patched__", False):
            return

        _DESIGN["native"] = design

        @functools.wraps(init)
        def guarded_init(self: wasmtime.Store, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            now = _DESIGN["native"]
            if now is not None:
                _NATIVE[self] = native_guard.NativeStoreGuard(self, f"Store@{id(self):#x}", now)

        @functools.wraps(delete)
        def guarded_delete(self: wasmtime.Store, ptr: Any) -> None:
            """The guard goes before the Store (close(), `with`, or collection), so a Store
            made next at the same address is never taken for this one."""
            guard = _NATIVE.pop(self, None)
            if guard is not None:
                guard.close()
            delete(self, ptr)

        guarded_init.__gvlbench_patched__ = True  # type: ignore[attr-defined]
        wasmtime.Store.__init__ = guarded_init  # type: ignore[method-assign]
        wasmtime.Store._delete = guarded_delete  # type: ignore[method-assign]

    return apply


_NATIVE: weakref.WeakKeyDictionary[wasmtime.Store, Any] = weakref.WeakKeyDictionary()
NATIVE_DESIGNS = {"store-guard-native": "native", "store-guard-affinity": "affinity",
                  "store-guard-mutex": "mutex"}  # fmt: skip

PATCHES: dict[str, Patch] = {
    p.name: p
    for p in (
        Patch("store-guard", "every Store entry point through the owner-thread guard",
              _store_guard),
        *(Patch(name, f"every Store entry point through the native {design} guard",
                _native_store_guard(design)) for name, design in NATIVE_DESIGNS.items()),
        Patch("thread-local-exceptions", "a callback's exception handed over per thread",
              lambda mode: internals.use_thread_local_exceptions()),
    )
}  # fmt: skip


def apply(names: tuple[str, ...] | list[str], mode: Mode = Mode.RELEASED) -> None:
    """Apply the named patches once each, in order, for a process that calls Wasm in `mode`
    (KeyError for an unknown one: the harness checks names before any child runs)."""
    for name in names:
        if name not in _APPLIED:
            PATCHES[name].apply(mode)
            _APPLIED.append(name)


def applied() -> list[str]:
    return list(_APPLIED)
