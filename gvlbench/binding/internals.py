"""Every private API gvlbench reaches into, in one place, behind a version check.

gvlbench measures the lock around `wasmtime_func_call` itself, so it must touch what
wasmtime-py keeps private: its ctypes binding of that function (`wasmtime._bindings`), the
library handle and C types (`wasmtime._ffi`), the host-exception hand-off
(`wasmtime._func.maybe_raise_last_exn`), a Store's context pointer and a Func's C struct, and
the error/trap constructors from raw pointers. None of it is promised to stay, so it is
imported here alone, and only on a wasmtime-py release gvlbench was tested with (TESTED): on
any other major, the first measuring command fails with one line instead of a puzzling crash.
(Set GVLBENCH_UNTESTED_WASMTIME=1 to try anyway; then a feature whose private names that
release lacks says which, in one line: `require`.) The one CPython-private detail, the owner
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
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from gvlbench.errors import UserError

# The wasmtime-py releases gvlbench is tested with, one per major: each was diffed against the
# others in what gvlbench touches, and runs `run`, `race` and `profile` under `--python`
# (docs/crossover.md). Any release of these majors is accepted. pyproject pins the harness's
# own wasmtime to one of them; a package may pin its environment to any other.
TESTED = ("46.0.1", "47.0.1", "48.0.0", "49.0.0", "50.0.1", "51.0.0")
UNTESTED_ENV = "GVLBENCH_UNTESTED_WASMTIME"


@dataclass(frozen=True)
class Change:
    """One way the tested releases differ in what gvlbench (or a binding of it) touches:
    majors from `since` on have `after`, older ones `before`."""

    since: int
    before: str
    after: str


# Everything else gvlbench touches is the same in all of TESTED: wasmtime-py's _func.py (the
# trampoline, FUNCTIONS, LAST_EXCEPTION, maybe_raise_last_exn), _linker.py, _store.py,
# _memory.py, _globals.py, _table.py, _instance.py, _error.py and _managed.py are one file,
# byte for byte, and the bindings the native guard replaces have the same names, signatures
# and C structs.
CHANGES = {
    "preopen": Change(48, "WasiConfig.preopen_dir(path, guest, DirPerms, FilePerms)",
                      "WasiConfig.preopen_dir(path, guest, fs_mutable)"),
    "slabs": Change(50, "_slab.Slab threads its free list through its values: a handle freed "
                        "by a finalizer on another thread is handed out twice, so a Store gets "
                        "another's data and a callback another's function (verify's "
                        "stores-concurrent and linkers-concurrent fail, with a GIL too)",
                    "_slab.Slab is a dict and an itertools.count, safe across threads "
                    "(wasmtime-py #342)"),
    "component items": Change(49, "wasmtime.component types list their imports and exports "
                                  "as ComponentItem; wasmtime_component_func_t has 3 fields",
                              "as ComponentExtern (with .ty); wasmtime_component_func_t has 4"),
}  # fmt: skip


def major(release: str) -> int:
    """46 for "46.0.1"; -1 for what is no version ("unknown": installed without metadata)."""
    head = release.split(".", 1)[0]
    return int(head) if head.isdigit() else -1


def tested_range() -> str:
    """`46.x to 51.x`: the tested majors, as messages name them."""
    low, high = major(TESTED[0]), major(TESTED[-1])
    return f"{low}.x" if low == high else f"{low}.x to {high}.x"


def pip_spec() -> str:
    """The pip requirement that installs a tested wasmtime-py."""
    return f"wasmtime>={major(TESTED[0])},<{major(TESTED[-1]) + 1}"


def is_tested(release: str) -> bool:
    """Whether gvlbench runs on `release`: a tested major, or any with UNTESTED_ENV set."""
    return bool(os.environ.get(UNTESTED_ENV)) or major(release) in {major(t) for t in TESTED}


class UntestedWasmtimeError(UserError):
    kind = "untested wasmtime"


class WasmtimeLacksError(UserError):
    kind = "wasmtime lacks"


def check_version(found: str | None = None) -> str:
    """The installed wasmtime-py's version; UntestedWasmtimeError unless its major is tested."""
    found = found or version("wasmtime")
    if not is_tested(found):
        raise UntestedWasmtimeError(
            f"wasmtime {found} is installed; gvlbench reaches into wasmtime-py's private API "
            f"and is tested with {tested_range()} only (pip install '{pip_spec()}', or set "
            f"{UNTESTED_ENV}=1 to try)"
        )
    return found


VERSION = check_version()

import wasmtime  # noqa: E402  (after the check: an untested version fails in one line)
from wasmtime import _bindings, _ffi, _func, _linker  # noqa: E402


def has(change: str) -> bool:
    """Whether the installed wasmtime-py has CHANGES[change]'s `after` form."""
    return major(VERSION) >= CHANGES[change].since


# What each feature reaches for beyond wasmtime-py's public API: a dotted path from the
# wasmtime package, whose last part may be a class's declared instance attribute (`Func._func`)
NEEDS: dict[str, tuple[str, ...]] = {
    "measuring a Wasm call": (
        "_ffi.filename", "_ffi.wasmtime_val_t", "_ffi.wasmtime_error_t", "_ffi.wasm_trap_t",
        "_bindings._wasmtime_func_call", "_func.maybe_raise_last_exn", "Store._context",
        "Store.ptr", "Func._func", "WasmtimeError._from_ptr", "Trap._from_ptr",
    ),
    "the native guard's stock path": ("Memory._memory", "Memory.read", "Memory.write",
                                      "Store._delete"),
    "the native guard's entry points": ("Memory._memory", "Global._global", "Table._table"),
    "the thread-local-exceptions patch": (
        "_func.trampoline", "_linker.trampoline", "_func.FUNCTIONS", "_func.Caller",
        "Caller._invalidate", "Val._from_raw", "Val._convert_to_raw", "Trap._consume",
    ),
    "profile": ("_instance.InstanceExports", "Store._delete"),
    "a timeline": ("_func.trampoline", "_linker.trampoline", "_func.FUNCTIONS", "_func.Caller",
                   "Caller._invalidate", "Val._from_raw", "Val._convert_to_raw",
                   "_bindings.wasmtime_func_callback_t"),
}  # fmt: skip


def _present(path: str) -> bool:
    """Whether `path` (see NEEDS) names something in the installed wasmtime-py."""
    obj: Any = wasmtime
    parts = path.split(".")
    for i, part in enumerate(parts):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        declared = isinstance(obj, type) and any(
            part in getattr(c, "__annotations__", {}) for c in obj.__mro__
        )
        return declared and i == len(parts) - 1  # an instance attribute ends the path
    return True


def lacking(feature: str, *also: str) -> list[str]:
    """What of NEEDS[feature] (and `also`) the installed wasmtime-py does not have."""
    return [path for path in (*NEEDS[feature], *also) if not _present(path)]


def require(feature: str, *also: str) -> None:
    """WasmtimeLacksError, one line, when the installed wasmtime-py lacks what `feature`
    reaches for (a release outside TESTED, run with UNTESTED_ENV), not an AttributeError
    somewhere inside it."""
    missing = lacking(feature, *also)
    if missing:
        raise WasmtimeLacksError(
            f"wasmtime {VERSION} has no {', '.join(missing)}: {feature} needs "
            f"{'it' if len(missing) == 1 else 'them'} (gvlbench is tested with {tested_range()})"
        )


require("measuring a Wasm call")
LIBRARY_PATH = str(_ffi.filename)
VAL_T = _ffi.wasmtime_val_t  # the C union a Wasm value travels in
ERROR_PTR = ctypes.POINTER(_ffi.wasmtime_error_t)
TRAP_PTR = ctypes.POINTER(_ffi.wasm_trap_t)
maybe_raise_last_exn = _func.maybe_raise_last_exn


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


def preopen_read_only(config: wasmtime.WasiConfig, host: str, guest: str) -> None:
    """Give WASI `host` as `guest`, read-only, in whichever form this release's preopen_dir
    takes (CHANGES["preopen"]): 46 and 47 take two permission enums, 48 on a bool."""
    if has("preopen"):
        config.preopen_dir(host, guest, fs_mutable=False)
    else:  # the enums are gone from 48 on: looked up, not named, so that type checks pass
        read_only = (getattr(wasmtime, e).READ_ONLY for e in ("DirPerms", "FilePerms"))
        config.preopen_dir(host, guest, *read_only)


def instance_exports_class() -> type:
    """wasmtime-py's InstanceExports (what Instance.exports returns; not exported)."""
    require("profile")
    return wasmtime._instance.InstanceExports  # type: ignore[no-any-return]


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


def _trampoline(idx, caller, params, nparams, results, nresults, keep):  # type: ignore[no-untyped-def]
    """wasmtime-py's callback trampoline (wasmtime/_func.py, the same in every release of
    TESTED), with where a callback's exception is kept for its caller passed in (`keep`)."""
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
        keep(e)
        trap = wasmtime.Trap("python exception")._consume()
        return ctypes.cast(trap, ctypes.c_void_p).value
    finally:
        caller._invalidate()


def _keep_globally(exc: BaseException) -> None:
    _func.LAST_EXCEPTION = exc


def _keep_per_thread(exc: BaseException) -> None:
    _LOCAL_EXCEPTION.value = exc


def _stock_trampoline(idx, caller, params, nparams, results, nresults):  # type: ignore[no-untyped-def]
    """wasmtime-py's own trampoline: a callback's exception in the module-global
    LAST_EXCEPTION."""
    return _trampoline(idx, caller, params, nparams, results, nresults, _keep_globally)


def _thread_local_trampoline(idx, caller, params, nparams, results, nresults):  # type: ignore[no-untyped-def]
    """The trampoline with one change: a callback's exception is kept for the calling
    thread, not in the module-global LAST_EXCEPTION, where another thread's callback can
    overwrite or take it."""
    return _trampoline(idx, caller, params, nparams, results, nresults, _keep_per_thread)


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
    require("the thread-local-exceptions patch")
    if _PATCHED_TRAMPOLINE is None:
        _PATCHED_TRAMPOLINE = type(_func.trampoline)(_thread_local_trampoline)
    _func.trampoline = _PATCHED_TRAMPOLINE
    _linker.trampoline = _PATCHED_TRAMPOLINE
    _func.maybe_raise_last_exn = _raise_thread_local_exception
    _use_thread_local_component_exceptions()
    global raise_host_exception
    raise_host_exception = _raise_thread_local_exception


# -- the host-callback trampoline, for the timeline (binding/timeline.py) --------------------


def trampoline_body() -> Callable[..., Any]:
    """The Python of the trampoline host functions defined now get: the per-thread one once
    the thread-local-exceptions patch is in, else wasmtime-py's own."""
    if _PATCHED_TRAMPOLINE is not None and _func.trampoline is _PATCHED_TRAMPOLINE:
        return _thread_local_trampoline
    return _stock_trampoline


def host_callback_type() -> Any:
    """wasmtime-py's ctypes type of a host callback (wasmtime_func_callback_t)."""
    require("a timeline")
    return _bindings.wasmtime_func_callback_t


def host_trampoline() -> Any:
    """The trampoline object host functions defined now are registered with."""
    return _func.trampoline


def set_host_trampoline(trampoline: Any) -> None:
    """Register host functions defined from now on (Func and Linker.define_func, which bind
    the trampoline when they define) with `trampoline`, a host-callback function pointer."""
    _func.trampoline = trampoline
    _linker.trampoline = trampoline
