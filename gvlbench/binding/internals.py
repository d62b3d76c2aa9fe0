"""Every private API gvlbench reaches into, in one place, behind a version check.

gvlbench measures the lock around `wasmtime_func_call` itself, so it must touch what
wasmtime-py keeps private: its ctypes binding of that function (`wasmtime._bindings`), the
library handle and C types (`wasmtime._ffi`), the host-exception hand-off
(`wasmtime._func.maybe_raise_last_exn`), a Store's context pointer and a Func's C struct, and
the error/trap constructors from raw pointers. None of it is promised to stay, so it is
imported here alone, and only on a wasmtime-py whose major version gvlbench was tested with:
on any other, the first measuring command fails with one line instead of a puzzling crash.
(Set GVLBENCH_UNTESTED_WASMTIME=1 to try anyway.) The one CPython-private detail, the owner
of an RLock read from its repr, lives here too.

The standalone reproducers in gvlbench/repro/ repeat a few lines of this on purpose: they
must run with nothing but wasmtime installed.
"""

from __future__ import annotations

import ctypes
import os
import re
import threading
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from gvlbench.errors import UserError

TESTED_MAJOR = 50  # pyproject pins wasmtime>=50.0.1,<51
UNTESTED_ENV = "GVLBENCH_UNTESTED_WASMTIME"


class UntestedWasmtimeError(UserError):
    kind = "untested wasmtime"


def check_version(found: str | None = None) -> str:
    """The installed wasmtime-py's version; UntestedWasmtimeError unless its major is tested."""
    found = found or version("wasmtime")
    major = found.split(".", 1)[0]
    if major != str(TESTED_MAJOR) and not os.environ.get(UNTESTED_ENV):
        raise UntestedWasmtimeError(
            f"wasmtime {found} is installed; gvlbench reaches into wasmtime-py's private API "
            f"and is tested with {TESTED_MAJOR}.x only (pip install 'wasmtime>={TESTED_MAJOR},"
            f"<{TESTED_MAJOR + 1}', or set {UNTESTED_ENV}=1 to try)"
        )
    return found


check_version()

import wasmtime  # noqa: E402  (after the check: an untested version fails in one line)
from wasmtime import _bindings, _ffi, _func, _linker  # noqa: E402
from wasmtime._func import maybe_raise_last_exn  # noqa: E402

LIBRARY_PATH = str(_ffi.filename)
VAL_T = _ffi.wasmtime_val_t  # the C union a Wasm value travels in
ERROR_PTR = ctypes.POINTER(_ffi.wasmtime_error_t)
TRAP_PTR = ctypes.POINTER(_ffi.wasm_trap_t)


def func_call_signature() -> tuple[Any, Any]:
    """(restype, argtypes) of wasmtime-py's own binding of wasmtime_func_call."""
    fn = _bindings._wasmtime_func_call
    return fn.restype, fn.argtypes


def set_func_call(fn: Any) -> None:
    """Point wasmtime-py's module-level binding of wasmtime_func_call at `fn` (process-wide:
    every Func.__call__ of every package in this process goes through it)."""
    _bindings._wasmtime_func_call = fn


def count_func_calls() -> Callable[[], int]:
    """Count the calls made through wasmtime-py's binding of wasmtime_func_call from now on
    (the code probe's question: does this statement call wasmtime-py?): the binding wrapped
    once in a counting function; a reader of the count. Until the next `set_func_call`."""
    inner = _bindings._wasmtime_func_call
    count = [0]

    def counted(*args: Any) -> Any:
        count[0] += 1
        return inner(*args)

    _bindings._wasmtime_func_call = counted
    return lambda: count[0]


def bindings_module() -> Any:
    """wasmtime-py's `_bindings` module itself, for a caller that must look a binding up at
    each call, as wasmtime-py's own wrappers do (set_func_call changes `_wasmtime_func_call`
    per mode)."""
    return _bindings


def binding(name: str) -> Any:
    """wasmtime-py's ctypes function object for libwasmtime's `name` (its restype and argtypes
    are the signature)."""
    return getattr(_bindings, f"_{name}")


# the module-level names and methods the native guard's stock path replaces: "_name" is the
# ctypes function, "name" the Python function wasmtime-py's classes call (through _ffi)
def stock_entry_points(names: tuple[str, ...]) -> dict[str, Any]:
    """The current value of every name `set_stock_entry_points` may replace."""
    found: dict[str, Any] = {}
    for name in names:
        found[f"_{name}"] = getattr(_bindings, f"_{name}")
        found[name] = getattr(_ffi, name)
    found["Memory.read"], found["Memory.write"] = wasmtime.Memory.read, wasmtime.Memory.write
    found["WasmtimeError._from_ptr"] = wasmtime.WasmtimeError.__dict__["_from_ptr"]
    return found


def set_stock_entry_points(values: dict[str, Any]) -> None:
    """Replace wasmtime-py's bindings and methods named as `stock_entry_points` names them."""
    for key, value in values.items():
        if key == "WasmtimeError._from_ptr":  # a classmethod object, set as it is
            wasmtime.WasmtimeError._from_ptr = value
        elif key.startswith("Memory."):
            setattr(wasmtime.Memory, key.removeprefix("Memory."), value)
        elif key.startswith("_"):
            setattr(_bindings, key, value)
        else:
            setattr(_ffi, key, value)
            setattr(_bindings, key, value)


def store_context(store: wasmtime.Store) -> Any:
    """The Store's `wasmtime_context_t *`, valid while the Store lives."""
    return store._context()


def func_struct(func: wasmtime.Func) -> Any:
    """The Func's C struct (`wasmtime_func_t`), to pass by reference."""
    return func._func


def error_from_ptr(pointer: int) -> wasmtime.WasmtimeError:
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(pointer, ERROR_PTR))


def trap_from_ptr(pointer: int) -> wasmtime.Trap:
    return wasmtime.Trap._from_ptr(ctypes.cast(pointer, TRAP_PTR))


def raise_host_exception() -> None:
    """Re-raise a host callback's exception that wasmtime-py stashed, if there is one."""
    maybe_raise_last_exn()


_RLOCK_OWNER = re.compile(r"owner=(\d+)")


def rlock_owner(lock: threading.RLock) -> int:
    """The thread ident that holds `lock`, 0 if none. CPython exposes it only in the repr;
    only a refused Store entry asks, so the guard's fast path never pays for it."""
    m = _RLOCK_OWNER.search(repr(lock))
    return int(m.group(1)) if m else 0


# -- the host-exception hand-off, kept per thread (the `thread-local-exceptions` patch) -------

_LOCAL_EXCEPTION = threading.local()


def _thread_local_trampoline(idx, caller, params, nparams, results, nresults):  # type: ignore[no-untyped-def]
    """wasmtime-py's callback trampoline (wasmtime/_func.py, 50.x) with one change: a
    callback's exception is kept for the calling thread, not in the module-global
    LAST_EXCEPTION, where another thread's callback can overwrite or take it."""
    caller = _func.Caller(caller)
    try:
        func, result_tys, access_caller = _func.FUNCTIONS.get(idx or 0)
        pyparams = [caller] if access_caller else []
        for i in range(nparams):
            pyparams.append(_func.Val._from_raw(caller, params[i], owned=False).value)
        pyresults = func(*pyparams)
        if nresults == 0:
            if pyresults is not None:
                raise wasmtime.WasmtimeError("callback produced results when it shouldn't")
        elif nresults == 1:
            results[0] = _func.Val._convert_to_raw(caller, result_tys[0], pyresults)
        else:
            if len(pyresults) != nresults:
                raise wasmtime.WasmtimeError("callback produced wrong number of results")
            for i, result in enumerate(pyresults):
                results[i] = _func.Val._convert_to_raw(caller, result_tys[i], result)
        return 0
    except BaseException as e:
        _LOCAL_EXCEPTION.value = e
        trap = wasmtime.Trap("python exception")._consume()
        return ctypes.cast(trap, ctypes.c_void_p).value
    finally:
        caller._invalidate()


def _raise_thread_local_exception() -> None:
    """The patched maybe_raise_last_exn: this thread's callback exception, if any."""
    exc = getattr(_LOCAL_EXCEPTION, "value", None)
    if exc is not None:
        _LOCAL_EXCEPTION.value = None
        raise exc


def _thread_local_component_catch(store_raw, func):  # type: ignore[no-untyped-def]
    """wasmtime-py's catch_exceptions for component host functions (wasmtime/component/
    _enter.py, 50.x) with one change: the callback's exception is kept for the calling
    thread, not in that module's own global LAST_EXCEPTION (a slot apart from _func.py's)."""
    store = wasmtime.StoreContext(store_raw)
    exception = None
    try:
        func(store)
    except wasmtime.WasmtimeError as e:
        exception = e
    except Exception as e:
        _LOCAL_EXCEPTION.value = e
        exception = wasmtime.WasmtimeError("python exception")
    finally:
        store._invalidate()
    if exception:
        return ctypes.cast(exception._consume(), ctypes.c_void_p).value
    return 0


def _use_thread_local_component_exceptions() -> None:
    """The component model's hand-off, per thread: its host-function wrapper (bound by name
    in _linker.py) and enter_wasm's maybe_raise_last_exn (looked up in _enter.py per call)."""
    from wasmtime.component import _enter
    from wasmtime.component import _linker as component_linker

    _enter.catch_exceptions = _thread_local_component_catch
    component_linker.catch_exceptions = _thread_local_component_catch  # type: ignore[attr-defined]
    _enter.maybe_raise_last_exn = _raise_thread_local_exception


_PATCHED_TRAMPOLINE = None


def use_thread_local_exceptions() -> None:
    """Install the per-thread hand-off for every Func and Linker.define_func made from now on
    (the trampoline is bound when a host function is defined), and for component host
    functions (their wrapper is looked up at each callback)."""
    global _PATCHED_TRAMPOLINE
    if _PATCHED_TRAMPOLINE is None:
        _PATCHED_TRAMPOLINE = type(_func.trampoline)(_thread_local_trampoline)
    _func.trampoline = _PATCHED_TRAMPOLINE
    _linker.trampoline = _PATCHED_TRAMPOLINE
    _func.maybe_raise_last_exn = _raise_thread_local_exception
    _use_thread_local_component_exceptions()
    global raise_host_exception
    raise_host_exception = _raise_thread_local_exception
