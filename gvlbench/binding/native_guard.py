"""The native Store guard from Python: the guarded call is one foreign call into the shim.

The shim (gvlbench/native/guard.c) exports `gvlbench_func_call`, `wasmtime_func_call`'s own
signature with a compare-and-swap of the Store's owner word around it. It is loaded twice, as
the call layer loads libwasmtime (binding/invoke.py): a `ctypes.CDLL` handle for `released`
(ctypes drops the GIL for the whole guarded call, the guard included) and a `ctypes.PyDLL`
handle for `held`. A Store is guarded by `NativeStoreGuard(store, name)`; from then on every
call of it through the shim takes the owner word, and calls that bypass the shim do not.

- `lean` and `raw`: `NativeGuardedCall` is the prepared call with the shim's function in place
  of `wasmtime_func_call`: the same buffers, the same one foreign call. `raw` must now look at
  what comes back (a refused call returns an error), the only Python the guard adds to it.
- `stock`: wasmtime-py's module-level binding of `wasmtime_func_call` is pointed at the shim
  (process-wide, as `use_stock_mode` does), so `Func.__call__` is unchanged and guarded.
  A refusal comes back to it as a `WasmtimeError`; a check on wasmtime-py's error path (where
  it looks for a host callback's exception) turns it into `StoreInUseError`. Nothing is added
  to the path of a call that is let in.

A refusal raises the Python guard's `StoreInUseError`, naming the Store and both threads (the
shim records the owner's kernel thread id for the refused thread; it is mapped to a name here).
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import wasmtime

from gvlbench import native
from gvlbench.binding import internals
from gvlbench.binding.guard import StoreInUseError
from gvlbench.binding.invoke import CallPath, Mode, PreparedCall, effective_mode
from gvlbench.errors import OptionError, UnavailableError


@dataclass(frozen=True)
class _Shim:
    fast: dict[Mode, Any]  # gvlbench_func_call, no argtypes: for prepared ctypes arguments
    stock: dict[Mode, Any]  # the same, with wasmtime-py's signature: for Func.__call__
    guard_new: Any
    guard_free: Any
    guard_refused: Any
    take_refusal: Any


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
    wasmtime_lib = ctypes.CDLL(internals.LIBRARY_PATH)  # the very library wasmtime-py loaded
    entry = [ctypes.cast(wasmtime_lib[name], ctypes.c_void_p).value
             for name in ("wasmtime_func_call", "wasmtime_error_new")]  # fmt: skip
    lib = libs[Mode.RELEASED]
    init = _fn(lib, "gvlbench_guard_init", ctypes.c_int, [ctypes.c_void_p, ctypes.c_void_p])
    if init(*entry) != 0:
        raise UnavailableError("native guard unavailable: libwasmtime lacks wasmtime_func_call")
    restype, argtypes = internals.func_call_signature()
    return _Shim(
        fast={m: _fn(h, "gvlbench_func_call", ctypes.c_void_p, None) for m, h in libs.items()},
        stock={m: _fn(h, "gvlbench_func_call", restype, argtypes) for m, h in libs.items()},
        guard_new=_fn(lib, "gvlbench_guard_new", ctypes.c_void_p, [ctypes.c_void_p]),
        guard_free=_fn(lib, "gvlbench_guard_free", None, [ctypes.c_void_p]),
        guard_refused=_fn(lib, "gvlbench_guard_refused", ctypes.c_ulong, [ctypes.c_void_p]),
        take_refusal=_fn(lib, "gvlbench_take_refusal", ctypes.c_long, [ctypes.c_void_p]),
    )


def available() -> None:
    """Load the shim now: UnavailableError here rather than in the middle of a measurement."""
    _shim()


_NAMES: dict[int, str] = {}  # guard address -> the Store's name, for refusal messages


class NativeStoreGuard:
    """The native guard of one Store, for as long as the Store lives (or until `close`)."""

    def __init__(self, store: wasmtime.Store, name: str):
        shim = _shim()
        self.name = name
        self._ptr: int = shim.guard_new(ctypes.cast(internals.store_context(store),
                                                    ctypes.c_void_p))  # fmt: skip
        if not self._ptr:
            raise RuntimeError("the native guard's table of Stores is full")
        _NAMES[self._ptr] = name
        # the slot is freed with the Store: a new Store at the same address starts unguarded
        self._release = weakref.finalize(store, shim.guard_free, self._ptr)

    @property
    def refused(self) -> int:
        return int(_shim().guard_refused(self._ptr)) if self._release.alive else 0

    def close(self) -> None:
        self._release()


def thread_name(native_id: int) -> str:
    for t in threading.enumerate():
        if t.native_id == native_id:
            return t.name
    return f"thread {native_id}"


def raise_if_refused(operation: str = "a call") -> None:
    """StoreInUseError if this thread's last call through the shim was refused (consumed)."""
    guard = ctypes.c_void_p()
    owner = _shim().take_refusal(ctypes.byref(guard))
    if owner:
        store = _NAMES.get(guard.value or 0, f"Store guard {guard.value:#x}")
        raise StoreInUseError(store, operation, thread_name(owner),
                              threading.current_thread().name)  # fmt: skip


class NativeGuardedCall(PreparedCall):
    """The prepared call (lean and raw) through the native guard: one foreign call each."""

    def _call_fn(self, mode: Mode) -> Any:
        return _shim().fast[effective_mode(mode)]

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


def use_stock(mode: Mode) -> None:
    """Point wasmtime-py's binding of wasmtime_func_call at the shim (process-wide), and check
    for a refusal on its error path."""
    internals.set_func_call(_shim().stock[effective_mode(mode)])
    internals.check_before_host_exception(raise_if_refused)


def prepare(
    store: wasmtime.Store, func: wasmtime.Func, args: Sequence[Any], mode: Mode, path: CallPath
) -> Callable[[], Any]:
    """A zero-argument call of `func` on `store` along `path`, through the native guard (the
    Store must have a NativeStoreGuard for it to guard anything)."""
    if path is CallPath.LEAN:
        return NativeGuardedCall(store, func, args, mode).lean
    if path is CallPath.RAW:
        return NativeGuardedCall(store, func, args, mode).raw
    if path is CallPath.STOCK:
        use_stock(mode)
        frozen = tuple(args)
        return lambda: func(store, *frozen)
    raise OptionError(f"the native guard guards Wasm calls; the {path} path makes none")
