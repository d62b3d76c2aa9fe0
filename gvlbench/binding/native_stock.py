"""The native Store guard under wasmtime-py itself: every binding of a Store entry point
re-pointed at the shim, process-wide (what `--patch store-guard-native` and its siblings do).

wasmtime-py calls libwasmtime through two names per function: `_bindings._name`, the ctypes
function, and `_ffi.name`, a Python function its classes call, which calls the first. Both are
replaced here by the shim's function of the same signature (the call through the handle for
the process's mode, every other entry point released, as wasmtime-py's own) and by a checker
that turns a refusal into `StoreInUseError` where it happens, so no refusal is left waiting
to surprise a later call:

- an entry point with an error channel: only when it returns an error (rare) is the shim
  asked whether that error was a refusal; wasmtime-py's own error path never sees it;
- one that returns a value: only when the value is what a refusal returns (0, NULL, false);
- the three with neither (void): one load of the shim's count of refusals waiting.

The component model's Store entry points (component_calls.py) are re-pointed the same way,
where the shim found them; its post_return is not (a no-op since wasmtime 42). Memory.read
and Memory.write become one guarded C copy each: wasmtime-py's own take the data
pointer in one entry and copy from it in Python afterwards, while another thread may grow and
move the memory. Stores without a guard pass straight through the shim.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import wasmtime

from gvlbench.binding import component_calls, internals, invoke
from gvlbench.binding.native_guard import (
    NativeGuardedCall,
    _fn,
    _shim,
    components_guarded,
    entry,
    raise_if_refused,
    refusals,
    take_refusal,
)
from gvlbench.errors import OptionError
from gvlbench.protocol import CallPath, Mode

# wasmtime-py's bindings the shim guards, by what tells a refusal
ERROR_ENTRIES = (
    "wasmtime_func_call", "wasmtime_memory_grow", "wasmtime_global_set", "wasmtime_table_set",
    "wasmtime_table_grow", "wasmtime_context_get_fuel", "wasmtime_context_set_fuel",
    "wasmtime_context_gc", "wasmtime_context_set_wasi", "wasmtime_instance_new",
    "wasmtime_linker_instantiate", "wasmtime_global_new", "wasmtime_memory_new",
    "wasmtime_table_new", "wasmtime_instance_pre_instantiate", "wasmtime_linker_module",
    "wasmtime_linker_define", "wasmtime_linker_define_instance", "wasmtime_linker_get_default",
    "wasmtime_linker_define_unknown_imports_as_default_values",
)  # fmt: skip
VALUE_ENTRIES = (
    "wasmtime_memory_data", "wasmtime_memory_data_size", "wasmtime_memory_size",
    "wasmtime_global_get", "wasmtime_table_get", "wasmtime_table_size",
    "wasmtime_context_set_epoch_deadline", "wasmtime_instance_export_get",
    "wasmtime_instance_export_nth", "wasmtime_func_type", "wasmtime_global_type",
    "wasmtime_memory_type", "wasmtime_table_type", "wasmtime_memory_page_size",
    "wasmtime_func_new", "wasmtime_memory_page_size_log2", "wasmtime_linker_get",
    "wasmtime_context_get_data", "wasmtime_context_set_data", "wasmtime_externref_new",
    "wasmtime_externref_data",
)  # fmt: skip
# no error channel and no value to look at: a refusal is found by one load of the shim's count
# of refusals waiting (zero unless one is)
VOID_ENTRIES = frozenset({"wasmtime_global_get", "wasmtime_func_new",
                          "wasmtime_context_set_epoch_deadline",
                          "wasmtime_context_set_data"})  # fmt: skip
# what use_stock replaces in wasmtime-py, per entry point: its ctypes function and the Python
# function wasmtime-py's classes call (as internals.require names them)
REPLACED = tuple(f"{module}{name}" for module in ("_bindings._", "_ffi.")
                 for name in ERROR_ENTRIES + VALUE_ENTRIES)  # fmt: skip


def _raise_if_refusal(error: Any) -> None:
    """A returned error that was the shim's refusal: freed, and raised as StoreInUseError."""
    refusal = take_refusal()
    if refusal is not None:
        internals.error_from_ptr(ctypes.cast(error, ctypes.c_void_p).value)  # freed with it
        raise refusal


def _checked_error(fn: Any) -> Callable[..., Any]:
    """`fn` (an entry point that returns an error) raising a refusal as StoreInUseError; any
    other error comes back as it was, for wasmtime-py's own error path."""

    def call(*args: Any) -> Any:
        error = fn(*args)
        if error:
            _raise_if_refusal(error)
        return error

    return call


def _checked_call() -> Callable[..., Any]:
    """_checked_error for the call, whose ctypes function is looked up at each call as
    wasmtime-py's own wrapper does (use_stock_mode points it at the handle of the mode)."""
    bindings = internals.bindings_module()

    def call(*args: Any) -> Any:
        error = bindings._wasmtime_func_call(*args)
        if error:
            _raise_if_refusal(error)
        return error

    return call


def _checked_component_call() -> Callable[..., Any]:
    """_checked_call for the component call (component_calls.use_mode picks its handle)."""
    bindings = internals.bindings_module()
    name = f"_{component_calls.FUNC_CALL}"

    def call(*args: Any) -> Any:
        error = getattr(bindings, name)(*args)
        if error:
            _raise_if_refusal(error)
        return error

    return call


def _entries() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(error entries, value entries) the shim guards here: the core API's, and the
    component model's where the shim found them (component_calls.py names them)."""
    if not components_guarded():
        return ERROR_ENTRIES, VALUE_ENTRIES
    return (ERROR_ENTRIES + component_calls.ERROR_ENTRIES,
            VALUE_ENTRIES + component_calls.VALUE_ENTRIES)  # fmt: skip


def _checked(fn: Any, name: str) -> Callable[..., Any]:
    """`fn` (an entry point with no error channel) with the refusal it may have recorded
    raised as StoreInUseError."""
    if name in VOID_ENTRIES:
        count = refusals()

        def void(*args: Any) -> Any:
            fn(*args)
            if count.value:
                raise_if_refused()

        return void

    def value(*args: Any) -> Any:
        result = fn(*args)
        if not result:  # 0, NULL or false: a refusal, or a real one
            raise_if_refused()
        return result

    return value


@cache
def _memory_copy(name: str) -> Any:
    """The shim's guarded copy for wasmtime-py's Memory methods: no argument types to convert
    through (the callers pass ctypes objects; an int would travel as a C int)."""
    return _fn(_shim().libs[Mode.RELEASED], name, ctypes.c_void_p, None)


def _copy_error(error: int) -> Exception:
    err = internals.error_from_ptr(error)  # owns the C error: freed with it
    return take_refusal() or err


def _guarded_read(self: wasmtime.Memory, store: Any, start: int | None = 0,
                  stop: int | None = None) -> bytearray:  # fmt: skip
    """Memory.read with the pointer taken, checked and copied from in one guarded entry."""
    start, stop, _ = slice(start, stop).indices(self.data_len(store))
    length = stop - start
    if length <= 0:
        return bytearray(0)
    out = bytearray(length)
    buf = (ctypes.c_ubyte * length).from_buffer(out)
    error = _memory_copy("gvlbench_memory_read")(
        store._context(), ctypes.byref(self._memory), ctypes.c_uint64(start), buf,
        ctypes.c_size_t(length))  # fmt: skip
    if error:
        raise _copy_error(error)
    return out


def _guarded_write(self: wasmtime.Memory, store: Any, value: bytes | bytearray,
                   start: int | None = None) -> int:  # fmt: skip
    """Memory.write with the bounds checked and the bytes copied in one guarded entry (its
    IndexError for a range outside the memory kept)."""
    size = self.data_len(store)
    first = slice(start, None).indices(size)[0]
    length = len(value)
    if first >= size or first + length > size:
        raise IndexError("index out of range")
    if not length:
        return 0
    if isinstance(value, bytearray):  # the caller's buffer, not a copy
        src: Any = (ctypes.c_ubyte * length).from_buffer(value)
    else:
        src = value if isinstance(value, bytes) else bytes(value)
    error = _memory_copy("gvlbench_memory_write")(
        store._context(), ctypes.byref(self._memory), ctypes.c_uint64(first), src,
        ctypes.c_size_t(length))  # fmt: skip
    if error:
        raise _copy_error(error)
    return length


_STOCK: dict[str, Any] = {}  # what use_stock replaced, for restore_stock


def use_stock(mode: Mode) -> None:
    """Point every wasmtime-py binding of a Store entry point at the shim (process-wide), each
    with its refusal check; the call through the handle for `mode` (held: PyDLL), every other
    entry point released, as wasmtime-py's own."""
    internals.require("the native guard's stock path", *REPLACED)
    errors, values = _entries()
    if not _STOCK:
        _STOCK.update(internals.stock_entry_points(errors + values))
    replacements: dict[str, Any] = {}
    for name in errors + values:
        fn = entry(name, Mode.RELEASED, fast=False)
        replacements[f"_{name}"] = fn
        replacements[name] = _checked_error(fn) if name in errors else _checked(fn, name)
    replacements["Memory.read"], replacements["Memory.write"] = _guarded_read, _guarded_write
    # the call's checker looks its ctypes function up at each call, as wasmtime-py's own
    # wrapper does: use_stock_mode picks the handle (the shim's, held or released) there
    replacements["wasmtime_func_call"] = _checked_call()
    if components_guarded():  # the component call likewise, its handle picked per mode
        replacements[component_calls.FUNC_CALL] = _checked_component_call()
    internals.set_stock_entry_points(replacements)
    invoke.set_stock_calls({m: entry("wasmtime_func_call", m, fast=False)
                            for m in (Mode.HELD, Mode.RELEASED)})  # fmt: skip
    invoke.use_stock_mode(mode)
    if components_guarded():
        component_calls.set_calls({m: entry(component_calls.FUNC_CALL, m, fast=False)
                                   for m in (Mode.HELD, Mode.RELEASED)})  # fmt: skip
        component_calls.use_mode(mode)


def restore_stock() -> None:
    """Undo use_stock: wasmtime-py's bindings as they were before it (its call included)."""
    if _STOCK:
        internals.set_stock_entry_points(_STOCK)
    invoke.set_stock_calls(None)
    component_calls.set_calls(None)


def count_entries(operation: Callable[[], Any]) -> dict[str, int]:
    """How many times `operation` enters a Store through each of wasmtime-py's bindings
    guarded here (libwasmtime's names), counted by wrapping them for one run. Call it with
    wasmtime-py's own bindings in place (restore_stock first): the shim's checkers call
    their C function directly and would not be counted."""
    names = ERROR_ENTRIES + VALUE_ENTRIES
    before = internals.stock_entry_points(names)
    counts: dict[str, int] = dict.fromkeys(names, 0)

    def counting(name: str, fn: Any) -> Any:
        def counted(*args: Any) -> Any:
            counts[name] += 1
            return fn(*args)

        return counted

    internals.set_stock_entry_points({f"_{n}": counting(n, before[f"_{n}"]) for n in names})
    try:
        operation()
    finally:
        internals.set_stock_entry_points(before)
    return {name: n for name, n in counts.items() if n}


def prepare(
    store: wasmtime.Store, func: wasmtime.Func, args: Sequence[Any], mode: Mode, path: CallPath
) -> Callable[[], Any]:
    """A zero-argument call of `func` on `store` along `path`, through the native guard (the
    Store must have a NativeStoreGuard for it to guard anything): the prepared call with the
    shim's function on the lean and raw paths, wasmtime-py's own re-pointed on the stock one."""
    if path is CallPath.LEAN:
        return NativeGuardedCall(store, func, args, mode).lean
    if path is CallPath.RAW:
        return NativeGuardedCall(store, func, args, mode).raw
    if path is CallPath.STOCK:
        use_stock(mode)
        frozen = tuple(args)
        return lambda: func(store, *frozen)
    raise OptionError(f"the native guard guards Wasm calls; the {path} path makes none")
