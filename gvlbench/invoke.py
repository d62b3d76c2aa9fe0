"""The call layer: one export called with the interpreter lock held or released.

Both modes call the very same C function, `wasmtime_func_call`, from the very same shared
library that wasmtime-py loaded. `released` goes through a `ctypes.CDLL` handle (ctypes drops
the GIL around the call, which is what wasmtime-py does today); `held` goes through a
`ctypes.PyDLL` handle of the same file (ctypes keeps the GIL for the whole call, the analogue
of the Ruby gem's default). Argument types, conversions and error handling are shared code, so
a ratio between the modes is the lock's effect and nothing else.

Two call paths exist on top of that:
- `stock`: wasmtime-py's public `Func.__call__`, with its module-level binding of
  `wasmtime_func_call` pointed at the chosen handle (process-wide: one mode per process).
- `lean`: argument and result buffers prepared once per (Store, export); a call sets nothing
  and converts only the results.
"""

from __future__ import annotations

import ctypes
import enum
import os
from collections.abc import Callable, Sequence
from typing import Any

import wasmtime
from wasmtime import _bindings, _ffi
from wasmtime._func import maybe_raise_last_exn

from gvlbench.errors import SignatureError


class Mode(enum.StrEnum):
    HELD = "held"
    RELEASED = "released"


class CallPath(enum.StrEnum):
    STOCK = "stock"
    LEAN = "lean"


LIBRARY_PATH = str(_ffi.filename)

# kind tag of wasmtime_val_t, and the union member that holds it
_KINDS = {"i32": (0, "i32"), "i64": (1, "i64"), "f32": (2, "f32"), "f64": (3, "f64")}
_INT_RANGE = {"i32": (-(2**31), 2**32 - 1), "i64": (-(2**63), 2**64 - 1)}


def _bind(lib: ctypes.CDLL) -> Any:
    fn = lib.wasmtime_func_call
    fn.restype = _bindings._wasmtime_func_call.restype
    fn.argtypes = _bindings._wasmtime_func_call.argtypes
    return fn


# Loading the same path again returns the same dlopen handle: one library, one set of globals.
FUNC_CALL = {
    Mode.RELEASED: _bind(ctypes.CDLL(LIBRARY_PATH)),
    Mode.HELD: _bind(ctypes.PyDLL(LIBRARY_PATH)),
}


FAULT_ENV = "GVLBENCH_FAULT"


def effective_mode(mode: Mode) -> Mode:
    """The mode a call really uses. GVLBENCH_FAULT=held-for-released injects a regression on
    purpose (the GIL held where released was asked), to prove that the gate catches one."""
    if mode is Mode.RELEASED and os.environ.get(FAULT_ENV) == "held-for-released":
        return Mode.HELD
    return mode


def type_names(types: Sequence[wasmtime.ValType]) -> tuple[str, ...]:
    return tuple(str(t) for t in types)


def check_args(export: str, params: Sequence[str], args: Sequence[Any]) -> None:
    """Raise SignatureError unless `args` fit `params` in count, type and range."""
    if len(args) != len(params):
        raise SignatureError(
            f"export {export!r} takes {len(params)} argument(s) ({', '.join(params) or 'none'}), "
            f"the spec gives {len(args)}"
        )
    for i, (ty, value) in enumerate(zip(params, args, strict=True)):
        if ty not in _KINDS:
            raise SignatureError(f"export {export!r}: parameter {i} has unsupported type {ty}")
        if ty in _INT_RANGE:
            lo, hi = _INT_RANGE[ty]
            if not isinstance(value, int) or not lo <= value <= hi:
                raise SignatureError(
                    f"export {export!r}: argument {i} must be an {ty} integer, got {value!r}"
                )
        elif not isinstance(value, int | float):
            raise SignatureError(f"export {export!r}: argument {i} must be a number ({ty})")


def use_stock_mode(mode: Mode) -> None:
    """Point wasmtime-py's own binding of wasmtime_func_call at the handle for `mode`."""
    _bindings._wasmtime_func_call = FUNC_CALL[effective_mode(mode)]


class LeanCall:
    """A prepared call of one export on one Store. Not thread-safe: one per thread."""

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, args: Sequence[Any], mode: Mode):
        ty = func.type(store)
        params, results = type_names(ty.params), type_names(ty.results)
        check_args("export", params, args)
        for r in results:
            if r not in _KINDS:
                raise SignatureError(f"result type {r} is not supported by the lean path")
        self._params = (_ffi.wasmtime_val_t * max(len(params), 1))()
        for slot, ty_name, value in zip(self._params, params, args, strict=False):
            kind, member = _KINDS[ty_name]
            slot.kind = kind
            setattr(slot.of, member, value)
        self._results = (_ffi.wasmtime_val_t * max(len(results), 1))()
        self._members = [_KINDS[r][1] for r in results]
        self._nparams, self._nresults = len(params), len(results)
        self._store = store  # keeps the Store alive as long as its context pointer is used
        self._context = store._context()
        self._func = ctypes.byref(func._func)
        self._fn = FUNC_CALL[effective_mode(mode)]

    def __call__(self) -> Any:
        trap = ctypes.POINTER(_ffi.wasm_trap_t)()
        error = self._fn(
            self._context,
            self._func,
            self._params,
            self._nparams,
            self._results,
            self._nresults,
            ctypes.byref(trap),
        )
        if error:
            err = wasmtime.WasmtimeError._from_ptr(error)
            maybe_raise_last_exn()
            raise err
        if trap:
            trap_obj = wasmtime.Trap._from_ptr(trap)
            maybe_raise_last_exn()  # a host exception wins over the trap that carried it
            raise trap_obj
        values = [getattr(self._results[i].of, m) for i, m in enumerate(self._members)]
        if not values:
            return None
        return values[0] if len(values) == 1 else values


def prepare(
    store: wasmtime.Store, func: wasmtime.Func, args: Sequence[Any], mode: Mode, path: CallPath
) -> Callable[[], Any]:
    """A zero-argument callable that performs one call of `func` on `store`."""
    if path is CallPath.LEAN:
        return LeanCall(store, func, args, mode)
    use_stock_mode(mode)
    frozen = tuple(args)
    return lambda: func(store, *frozen)
