"""The call layer: one export called with the interpreter lock held or released.

Both modes call the very same C function, `wasmtime_func_call`, from the very same shared
library that wasmtime-py loaded. `released` goes through a `ctypes.CDLL` handle (ctypes drops
the GIL around the call, which is what wasmtime-py does today); `held` goes through a
`ctypes.PyDLL` handle of the same file (ctypes keeps the GIL for the whole call, the analogue
of the Ruby gem's default). Argument types, conversions and error handling are shared code, so
a ratio between the modes is the lock's effect and nothing else.

Four call paths exist on top of that, priced side by side by `gvlbench calls`:
- `stock`: wasmtime-py's public `Func.__call__`, with its module-level binding of
  `wasmtime_func_call` pointed at the chosen handle (process-wide: one mode per process).
- `lean`: argument and result buffers prepared once per (Store, export); a call sets nothing,
  checks the error and trap, and converts only the results.
- `raw`: the same prepared call with no check and no conversion (what lean cannot beat).
- `floor`: the cheapest ctypes call into the library (what no Wasm call can beat).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import wasmtime

from gvlbench.binding import internals
from gvlbench.errors import SignatureError
from gvlbench.protocol import CallPath, Mode

__all__ = ["CallPath", "Mode"]  # re-exported: the binding's callers speak the protocol's enums


LIBRARY_PATH = internals.LIBRARY_PATH

# kind tag of wasmtime_val_t, and the union member that holds it
_KINDS = {"i32": (0, "i32"), "i64": (1, "i64"), "f32": (2, "f32"), "f64": (3, "f64")}
_INT_RANGE = {"i32": (-(2**31), 2**32 - 1), "i64": (-(2**63), 2**64 - 1)}


def _bind(lib: ctypes.CDLL) -> Any:
    fn = lib.wasmtime_func_call
    fn.restype, fn.argtypes = internals.func_call_signature()
    return fn


def _fast(lib: ctypes.CDLL, symbol: str) -> Any:
    """A fresh function object (item access is not cached, unlike attribute access) with no
    argtypes: callers pass ready ctypes objects, so there is nothing to convert."""
    fn = lib[symbol]
    fn.restype, fn.argtypes = ctypes.c_void_p, None
    return fn


# Loading the same path again returns the same dlopen handle: one library, one set of globals.
_LIBS = {Mode.RELEASED: ctypes.CDLL(LIBRARY_PATH), Mode.HELD: ctypes.PyDLL(LIBRARY_PATH)}
# wasmtime-py's own signature, for the stock path
FUNC_CALL = {mode: _bind(lib) for mode, lib in _LIBS.items()}
# the same symbol for the prepared paths (raw and lean)
_FAST_CALL = {mode: _fast(lib, "wasmtime_func_call") for mode, lib in _LIBS.items()}
_FAST_CONTEXT = {mode: _fast(lib, "wasmtime_store_context") for mode, lib in _LIBS.items()}
_SCALARS = {"i32": ctypes.c_int32, "i64": ctypes.c_int64, "f32": ctypes.c_float,
            "f64": ctypes.c_double}  # fmt: skip


def fast_restype(restype: Any) -> Any:
    """A pointer restype as c_void_p (an int or None: nothing to build on the hot path)."""
    return ctypes.c_void_p if isinstance(restype, type(ctypes.POINTER(ctypes.c_int))) else restype


@functools.cache
def library(name: str, mode: Mode) -> Any:
    """libwasmtime's `name` through the handle for `mode`, with no argtypes (the caller passes
    ready ctypes objects) and wasmtime-py's restype (a pointer as c_void_p)."""
    fn = _LIBS[mode][name]
    fn.restype, fn.argtypes = fast_restype(internals.binding(name).restype), None
    return fn


FAULT_ENV = "GVLBENCH_FAULT"


def effective_mode(mode: Mode) -> Mode:
    """The ctypes handle a call really uses (free-threaded calls as released does).
    GVLBENCH_FAULT=held-for-released injects a regression on purpose (the GIL held where
    released was asked), to prove that the gate catches one."""
    if mode is Mode.RELEASED and os.environ.get(FAULT_ENV) == "held-for-released":
        return Mode.HELD
    return mode.loader


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


# What `use_stock_mode` points wasmtime-py's binding at, per mode: the library's own function,
# or the native Store guard's of the same signature while its stock path is in use.
_STOCK_CALL = dict(FUNC_CALL)


def set_stock_calls(calls: dict[Mode, Any] | None) -> None:
    """Make `use_stock_mode` point at `calls` from now on (None: the library's own)."""
    _STOCK_CALL.update(calls or FUNC_CALL)


# What prepared calls made from now on call in place of wasmtime_func_call, per mode (a
# timeline's timed function: binding/timeline.py); empty: their own
_PREPARED_CALL: dict[Mode, Any] = {}


def set_prepared_calls(calls: dict[Mode, Any] | None) -> None:
    """Make PreparedCalls built from now on call `calls[mode]` (None: their own function)."""
    _PREPARED_CALL.clear()
    _PREPARED_CALL.update(calls or {})


def prepared_call_override(mode: Mode) -> Any:
    """The function set_prepared_calls put in place for `mode`, or None."""
    return _PREPARED_CALL.get(effective_mode(mode))


def use_stock_mode(mode: Mode) -> None:
    """Point wasmtime-py's own binding of wasmtime_func_call at the handle for `mode`."""
    internals.set_func_call(_STOCK_CALL[effective_mode(mode)])


class PreparedCall:
    """One export on one Store with its argument and result buffers built once.

    Not thread-safe: one per thread. `raw` is the C call and nothing else (its result is not
    even read); `lean` adds what a correct binding cannot skip: the error and trap checks and
    reading the results. Both go through `_FAST_CALL`, a separate ctypes function object for
    the same symbol with no argtypes to convert through (every argument is already a ctypes
    object), so `lean / raw` is the cost of correctness and `stock / lean` the cost of
    wasmtime-py's generic Func.__call__.
    """

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, args: Sequence[Any], mode: Mode):
        ty = func.type(store)
        params, results = type_names(ty.params), type_names(ty.results)
        check_args("export", params, args)
        for r in results:
            if r not in _KINDS:
                raise SignatureError(f"result type {r} is not supported by the lean path")
        self._params = (internals.VAL_T * max(len(params), 1))()
        for slot, ty_name, value in zip(self._params, params, args, strict=False):
            kind, member = _KINDS[ty_name]
            slot.kind = kind
            setattr(slot.of, member, value)
        self._results = (internals.VAL_T * max(len(results), 1))()
        # one scalar view per result, straight onto its slot of the buffer: reading `.value`
        # converts nothing but that number
        base, offset = ctypes.sizeof(internals.VAL_T), internals.VAL_T.of.offset
        self._views = [_SCALARS[r].from_buffer(self._results, i * base + offset)
                       for i, r in enumerate(results)]  # fmt: skip
        self._store = store  # keeps the Store alive as long as its context pointer is used
        self._trap = ctypes.c_void_p()
        self._argv = (
            internals.store_context(store),
            ctypes.byref(internals.func_struct(func)),
            self._params,
            ctypes.c_size_t(len(params)),
            self._results,
            ctypes.c_size_t(len(results)),
            ctypes.byref(self._trap),
        )
        self._fn = self._call_fn(mode)
        # Closures over locals, built once: no attribute lookups on the per-call path. `raw`
        # gets the same treatment, so lean / raw prices the checks and the read alone.
        self.raw = self._make_raw()
        self.lean = self._make_lean()

    def _call_fn(self, mode: Mode) -> Any:
        """The C function the call goes through: wasmtime_func_call itself (a guarded call
        swaps in the native guard's, of the same signature; a timeline its timed one)."""
        return prepared_call_override(mode) or _FAST_CALL[effective_mode(mode)]

    def _make_raw(self) -> Callable[[], Any]:
        fn, argv, keep = self._fn, self._argv, self  # `keep`: the Store outlives its pointers

        def raw() -> Any:
            """wasmtime_func_call with the prepared buffers; nothing checked or converted."""
            return fn(*argv)

        raw.keep_alive = keep  # type: ignore[attr-defined]
        return raw

    def _make_lean(self) -> Callable[[], Any]:
        fn, argv, trap, fail, views = self._fn, self._argv, self._trap, self._raise, self._views

        if len(views) == 1:
            (view,) = views

            def lean() -> Any:
                error = fn(*argv)
                if error or trap.value:
                    fail(error)
                return view.value

        else:

            def lean() -> Any:
                error = fn(*argv)
                if error or trap.value:
                    fail(error)
                return [v.value for v in views] if views else None

        lean.__doc__ = "The call with every check a binding needs, results as Python values."
        return lean

    def _raise(self, error: int | None) -> None:
        """Turn the error or trap pointer into wasmtime-py's exception, as Func.__call__ does
        (a host callback's own exception, stashed by wasmtime-py, wins over the trap)."""
        if error:
            err = internals.error_from_ptr(error)
            internals.raise_host_exception()
            raise err
        trap = internals.trap_from_ptr(self._trap.value)
        self._trap.value = None  # the next call must start from "no trap"
        internals.raise_host_exception()
        raise trap


class LeanCall(PreparedCall):
    """The lean call path as a zero-argument callable."""

    def __call__(self) -> Any:
        return self.lean()


def floor_call(store: wasmtime.Store, mode: Mode) -> Callable[[], Any]:
    """The floor: the cheapest ctypes call into the same library through the same handle
    kind (`wasmtime_store_context`, one pointer in, one out), so what any call path costs
    above it is the call path, not ctypes."""
    fn, ptr = _FAST_CONTEXT[effective_mode(mode)], store.ptr()

    def floor() -> Any:
        return fn(ptr)

    floor.keep_alive = store  # type: ignore[attr-defined]  # the pointer dies with the Store
    return floor


def prepare(
    store: wasmtime.Store, func: wasmtime.Func, args: Sequence[Any], mode: Mode, path: CallPath
) -> Callable[[], Any]:
    """A zero-argument callable that performs one call of `func` on `store` along `path`."""
    if path is CallPath.LEAN:
        return PreparedCall(store, func, args, mode).lean
    if path is CallPath.RAW:
        return PreparedCall(store, func, args, mode).raw
    if path is CallPath.FLOOR:
        return floor_call(store, mode)
    use_stock_mode(mode)
    frozen = tuple(args)
    return lambda: func(store, *frozen)
