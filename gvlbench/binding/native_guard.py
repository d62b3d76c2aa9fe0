"""The native Store guard from Python: the guarded entry is one foreign call into the shim.

The shim (gvlbench/native/guard.c) exports every libwasmtime function a Store is entered
through (`gvlbench_wasmtime_func_call` for `wasmtime_func_call`, ...), each with the very
signature of the function it guards and the Store's guard taken around it. It is loaded
twice, as the call layer loads libwasmtime (binding/invoke.py): a `ctypes.CDLL` handle for
`released` (ctypes drops the GIL for the whole guarded call, the guard included) and a
`ctypes.PyDLL` handle for `held`. A Store is guarded by `NativeStoreGuard(store, name,
design)`; from then on every entry of it through the shim takes its guard, and entries that
bypass the shim do not.

- `lean` and `raw` calls: `NativeGuardedCall` is the prepared call with the shim's function
  in place of `wasmtime_func_call`: the same buffers, the same one foreign call. `raw` must
  now look at what comes back (a refused call returns an error), the only Python the guard
  adds to it. `functions` gives binding/entries.py the shim's accessors the same way.
- `stock`: wasmtime-py's own bindings re-pointed at the shim: binding/native_stock.py, which
  also has `prepare`, the one call along any path through the guard.

A refusal raises the Python guard's `StoreInUseError`, naming the Store and both threads (the
shim records the owner's kernel thread id for the refused thread; it is mapped to a name here).
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import wasmtime

from gvlbench import native
from gvlbench.binding import entries, internals, invoke
from gvlbench.binding.guard import StoreInUseError
from gvlbench.binding.invoke import Mode, PreparedCall, effective_mode
from gvlbench.errors import UnavailableError


@dataclass(frozen=True)
class _Shim:
    fast: dict[Mode, Any]  # gvlbench_wasmtime_func_call, no argtypes: for prepared ctypes arguments
    stock: dict[Mode, Any]  # the same, with wasmtime-py's signature: for Func.__call__
    guard_new: Any
    guard_free: Any
    guard_generation: Any
    guard_refused: Any
    take_refusal: Any
    refused_entry: Any
    set_kind: Any
    libs: dict[Mode, Any]
    # the component model's entry points are guarded too (gvlbench_guard_init_component found
    # every one of them in this libwasmtime)
    components: bool = False


def _fn(lib: ctypes.CDLL, name: str, restype: Any, argtypes: list[Any] | None) -> Any:
    fn = lib[name]  # item access: a fresh function object per handle
    fn.restype, fn.argtypes = restype, argtypes
    return fn


@cache
def _shim() -> _Shim:
    """The shim, loaded and handed libwasmtime's functions once; UnavailableError (one line)
    when it cannot be had here."""
    reason = native.unavailable_reason()
    if reason:
        raise UnavailableError(reason)
    libs = {Mode.RELEASED: ctypes.CDLL(str(native.LIBRARY)),
            Mode.HELD: ctypes.PyDLL(str(native.LIBRARY))}  # fmt: skip
    lib = libs[Mode.RELEASED]
    init = _fn(lib, "gvlbench_guard_init", ctypes.c_int, [ctypes.c_char_p])
    # the very library wasmtime-py loaded: the shim looks every entry point up in it
    missing = init(internals.LIBRARY_PATH.encode())
    if missing != 0:
        raise UnavailableError(f"native guard unavailable: libwasmtime lacks {missing} of the "
                               "entry points it guards")  # fmt: skip
    # the component API's entry points: a table of their own, so a libwasmtime without the
    # component model keeps the core guard
    init_component = _fn(lib, "gvlbench_guard_init_component", ctypes.c_int, [ctypes.c_char_p])
    components = init_component(internals.LIBRARY_PATH.encode()) == 0
    restype, argtypes = internals.func_call_signature()
    return _Shim(
        components=components,
        fast={
            m: _fn(h, "gvlbench_wasmtime_func_call", ctypes.c_void_p, None) for m, h in libs.items()
        },
        stock={
            m: _fn(h, "gvlbench_wasmtime_func_call", restype, argtypes) for m, h in libs.items()
        },
        libs=libs,
        guard_new=_fn(
            lib, "gvlbench_guard_new_kind", ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int]
        ),
        guard_free=_fn(
            lib, "gvlbench_guard_free_generation", None, [ctypes.c_void_p, ctypes.c_ulong]
        ),
        guard_generation=_fn(lib, "gvlbench_guard_generation", ctypes.c_ulong, [ctypes.c_void_p]),
        guard_refused=_fn(lib, "gvlbench_guard_refused", ctypes.c_ulong, [ctypes.c_void_p]),
        take_refusal=_fn(lib, "gvlbench_take_refusal", ctypes.c_long, [ctypes.c_void_p]),
        refused_entry=_fn(lib, "gvlbench_refused_entry", ctypes.c_char_p, []),
        set_kind=_fn(lib, "gvlbench_guard_set_kind", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
    )


def available() -> None:
    """Load the shim now: UnavailableError here rather than in the middle of a measurement."""
    _shim()


def components_guarded() -> bool:
    """Whether the shim guards the component model's Store entry points too."""
    return _shim().components


# the native designs, by the number guard.c knows them by: "native" is the owner word (its
# name since it was the only native guard), "affinity" the owner fixed at creation, "mutex"
# a recursive mutex that makes a second thread wait
DESIGNS = {"native": 0, "affinity": 1, "mutex": 2}

# guard address -> (the Store's name, the guard's design), for refusal messages
_NAMES: dict[int, tuple[str, str]] = {}


class NativeStoreGuard:
    """The native guard of one Store, for as long as the Store lives (or until `close`)."""

    def __init__(self, store: wasmtime.Store, name: str, design: str = "native"):
        shim = _shim()
        self.name, self.design = name, design
        context = ctypes.cast(internals.store_context(store), ctypes.c_void_p)
        self._ptr: int = shim.guard_new(context, DESIGNS[design])
        if not self._ptr:
            raise RuntimeError("the native guard's table of Stores is full")
        _NAMES[self._ptr] = (name, design)
        # freed with the Store, or on close(); only its own generation: a Store made since at
        # the same address (the slot guards it now) keeps its guard
        self._release = weakref.finalize(store, shim.guard_free, self._ptr,
                                         shim.guard_generation(self._ptr))  # fmt: skip

    @property
    def refused(self) -> int:
        return int(_shim().guard_refused(self._ptr)) if self._release.alive else 0

    def redesign(self, design: str) -> None:
        """Give the guard another design, from this thread (affinity's new owner). Only while
        no thread is inside the Store: for pricing every design on one Store in turn."""
        _shim().set_kind(self._ptr, DESIGNS[design])
        self.design = design
        _NAMES[self._ptr] = (self.name, design)

    def close(self) -> None:
        self._release()


def thread_name(native_id: int) -> str:
    for t in threading.enumerate():
        if t.native_id == native_id:
            return t.name
    return f"thread {native_id}"


def operation_of(entry: str) -> str:
    """What a refused entry point is called in StoreInUseError: "a call" for
    wasmtime_func_call (and the component call), else e.g. "memory.grow", "store.set_fuel"
    or "component.func_type"."""
    name = entry.removeprefix("wasmtime_")
    if name in ("func_call", "component_func_call"):
        return "a call"
    kind, _, op = name.partition("_")
    return f"{'store' if kind == 'context' else kind}.{op}"


def take_refusal() -> StoreInUseError | None:
    """This thread's last refusal by the shim as a StoreInUseError (consumed), or None."""
    shim = _shim()
    entry = shim.refused_entry()
    guard = ctypes.c_void_p()
    owner = shim.take_refusal(ctypes.byref(guard))
    if not owner:
        return None
    store, design = _NAMES.get(guard.value or 0, (f"Store guard {guard.value:#x}", ""))
    return StoreInUseError(store, operation_of((entry or b"").decode()), thread_name(owner),
                           threading.current_thread().name, design)  # fmt: skip


def raise_if_refused() -> None:
    """StoreInUseError if this thread's last entry through the shim was refused (consumed)."""
    refusal = take_refusal()
    if refusal is not None:
        raise refusal


class NativeGuardedCall(PreparedCall):
    """The prepared call (lean and raw) through the native guard: one foreign call each."""

    def _call_fn(self, mode: Mode) -> Any:
        # a timeline's timed call goes through the Store's guard too
        return invoke.prepared_call_override(mode) or _shim().fast[effective_mode(mode)]

    def _make_raw(self) -> Callable[[], Any]:
        fn, argv, fail, keep = self._fn, self._argv, self._raise, self

        def raw() -> Any:
            """The guarded call; its return looked at only for a refusal (or another error)."""
            error = fn(*argv)
            if error:
                fail(error)
            return error

        raw.keep_alive = keep  # type: ignore[attr-defined]
        return raw

    def _raise(self, error: int | None) -> None:
        if error:
            err = internals.error_from_ptr(error)  # owns the error: freed with `err`
            raise_if_refused()
            internals.raise_host_exception()
            raise err
        super()._raise(error)


@cache
def entry(name: str, mode: Mode, fast: bool = True) -> Any:
    """The shim's guarded `name` (a libwasmtime function name) for `mode`: with wasmtime-py's
    restype and no argtypes (`fast`: for prepared ctypes arguments), or with its whole
    signature (for wasmtime-py's own callers)."""
    binding = internals.binding(name)
    if fast:
        return _fn(_shim().libs[effective_mode(mode)], f"gvlbench_{name}",
                   invoke.fast_restype(binding.restype), None)  # fmt: skip
    return _fn(_shim().libs[effective_mode(mode)], f"gvlbench_{name}", binding.restype,
               binding.argtypes)  # fmt: skip


@cache
def refusals() -> ctypes.c_ulong:
    """The shim's count of threads with a refusal not yet taken: one load tells a binding
    with nothing else to look at whether to look."""
    return ctypes.c_ulong.in_dll(_shim().libs[Mode.RELEASED], "gvlbench_refusals")


@cache
def copy_function(name: str, guarded: bool = True) -> Any:
    """The shim's memory copy, `memory_read` or `memory_write`, for prepared ctypes arguments:
    through the Store's guard, or the same copy unguarded (`gvlbench_plain_...`)."""
    symbol = f"gvlbench_{name}" if guarded else f"gvlbench_plain_{name}"
    return _fn(_shim().libs[Mode.RELEASED], symbol, ctypes.c_void_p, None)


def functions(mode: Mode) -> entries.Functions:
    """Every entry point through the shim's guards, for binding/entries.py's operations."""

    def fn(name: str) -> Any:
        return copy_function(name) if name.startswith("memory_") else entry(name, mode)

    return entries.Functions(fn, raise_if_refused)
