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
from gvlbench.binding import entries, internals, invoke
from gvlbench.binding.guard import StoreInUseError
from gvlbench.binding.invoke import CallPath, Mode, PreparedCall, effective_mode
from gvlbench.errors import OptionError, UnavailableError


@dataclass(frozen=True)
class _Shim:
    fast: dict[Mode, Any]  # gvlbench_wasmtime_func_call, no argtypes: for prepared ctypes arguments
    stock: dict[Mode, Any]  # the same, with wasmtime-py's signature: for Func.__call__
    guard_new: Any
    guard_free: Any
    guard_refused: Any
    take_refusal: Any
    refused_entry: Any
    set_kind: Any
    libs: dict[Mode, Any]


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
    restype, argtypes = internals.func_call_signature()
    return _Shim(
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
        guard_free=_fn(lib, "gvlbench_guard_free", None, [ctypes.c_void_p]),
        guard_refused=_fn(lib, "gvlbench_guard_refused", ctypes.c_ulong, [ctypes.c_void_p]),
        take_refusal=_fn(lib, "gvlbench_take_refusal", ctypes.c_long, [ctypes.c_void_p]),
        refused_entry=_fn(lib, "gvlbench_refused_entry", ctypes.c_char_p, []),
        set_kind=_fn(lib, "gvlbench_guard_set_kind", ctypes.c_int, [ctypes.c_void_p, ctypes.c_int]),
    )


def available() -> None:
    """Load the shim now: UnavailableError here rather than in the middle of a measurement."""
    _shim()


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
        # the slot is freed with the Store: a new Store at the same address starts unguarded
        self._release = weakref.finalize(store, shim.guard_free, self._ptr)

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
    wasmtime_func_call, else e.g. "memory.grow" or "store.set_fuel"."""
    name = entry.removeprefix("wasmtime_")
    if name == "func_call":
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


# wasmtime-py's bindings the shim guards, by whether a refusal can come back as an error
ERROR_ENTRIES = ("wasmtime_func_call", "wasmtime_memory_grow", "wasmtime_global_set",
                 "wasmtime_table_set", "wasmtime_table_grow", "wasmtime_context_get_fuel",
                 "wasmtime_context_set_fuel", "wasmtime_context_gc", "wasmtime_context_set_wasi",
                 "wasmtime_instance_new", "wasmtime_linker_instantiate", "wasmtime_global_new",
                 "wasmtime_memory_new", "wasmtime_table_new")  # fmt: skip
VALUE_ENTRIES = ("wasmtime_memory_data", "wasmtime_memory_data_size", "wasmtime_memory_size",
                 "wasmtime_global_get", "wasmtime_table_get", "wasmtime_table_size",
                 "wasmtime_context_set_epoch_deadline", "wasmtime_instance_export_get",
                 "wasmtime_instance_export_nth", "wasmtime_func_type", "wasmtime_global_type",
                 "wasmtime_memory_type", "wasmtime_table_type", "wasmtime_memory_page_size",
                 "wasmtime_func_new")  # fmt: skip


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
    """The shim's process-wide count of refusals: one load tells a binding whether to look."""
    return ctypes.c_ulong.in_dll(_shim().libs[Mode.RELEASED], "gvlbench_refusals")


# wasmtime-py's bindings with no error channel and no value to look at (void): a refusal is
# found by one load of the shim's refusal count. Every other one returns a value a refusal
# makes falsy (0, NULL, false), and only then is the refusal looked for.
VOID_ENTRIES = frozenset({"wasmtime_global_get", "wasmtime_func_new",
                          "wasmtime_context_set_epoch_deadline"})  # fmt: skip


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


@cache
def _memory_copy(name: str) -> Any:
    """The shim's guarded copy for wasmtime-py's Memory methods: no argument types to convert
    through (the callers pass ctypes objects; an int would travel as a C int)."""
    return _fn(_shim().libs[Mode.RELEASED], name, ctypes.c_void_p, None)


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
        raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, internals.ERROR_PTR))
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
        raise wasmtime.WasmtimeError._from_ptr(ctypes.cast(error, internals.ERROR_PTR))
    return length


_STOCK: dict[str, Any] = {}  # what use_stock replaced, for restore_stock


def use_stock(mode: Mode) -> None:
    """Point every wasmtime-py binding of a Store entry point at the shim (process-wide), and
    raise a refusal as StoreInUseError: on the error paths (a call's, and every other
    WasmtimeError made from a returned error), and after the value-returning entry points
    (one load of the refusal count). Memory.read and Memory.write become one guarded entry
    each. The call goes through the handle for `mode` (held: PyDLL), every other entry point
    releases the GIL as wasmtime-py's own bindings do. Stores without a guard pass straight
    through the shim."""
    if not _STOCK:
        _STOCK.update(internals.stock_entry_points(ERROR_ENTRIES + VALUE_ENTRIES))
    replacements: dict[str, Any] = {}
    for name in ERROR_ENTRIES:
        replacements[f"_{name}"] = entry(name, Mode.RELEASED, fast=False)
    for name in VALUE_ENTRIES:
        fn = entry(name, Mode.RELEASED, fast=False)
        replacements[f"_{name}"] = fn
        replacements[name] = _checked(fn, name)
    replacements["Memory.read"], replacements["Memory.write"] = _guarded_read, _guarded_write
    replacements["WasmtimeError._from_ptr"] = _refusal_aware(_STOCK["WasmtimeError._from_ptr"])
    internals.set_stock_entry_points(replacements)
    invoke.set_stock_calls({m: entry("wasmtime_func_call", m, fast=False)
                            for m in (Mode.HELD, Mode.RELEASED)})  # fmt: skip
    invoke.use_stock_mode(mode)
    internals.check_before_host_exception(raise_if_refused)


def count_entries(operation: Callable[[], Any]) -> dict[str, int]:
    """How many times `operation` enters a Store through each of wasmtime-py's bindings
    guarded here (libwasmtime's names), counted by wrapping them for one run."""
    names = ERROR_ENTRIES + VALUE_ENTRIES
    before = internals.stock_entry_points(names)
    counts: dict[str, int] = dict.fromkeys(names, 0)

    def counting(name: str, fn: Any) -> Any:
        def counted(*args: Any) -> Any:
            counts[name] += 1
            return fn(*args)

        return counted

    wrapped = {f"_{n}": counting(n, before[f"_{n}"]) for n in names}
    wrapped["Memory.read"], wrapped["Memory.write"] = before["Memory.read"], before["Memory.write"]
    internals.set_stock_entry_points(wrapped)
    try:
        operation()
    finally:
        internals.set_stock_entry_points(before)
    return {name: n for name, n in counts.items() if n}


def restore_stock() -> None:
    """Undo use_stock: wasmtime-py's bindings as they were, its call through the library's
    own function for the mode it was last given."""
    if _STOCK:
        calls = {k: v for k, v in _STOCK.items() if k != "_wasmtime_func_call"}
        internals.set_stock_entry_points(calls)
    invoke.set_stock_calls(None)


def _refusal_aware(from_ptr: classmethod) -> classmethod:  # type: ignore[type-arg]
    """WasmtimeError._from_ptr that makes a refusal the guard's StoreInUseError (only errors
    reach it: nothing is added to an entry that is let in)."""

    def make(cls: type, ptr: Any) -> Exception:
        error = from_ptr.__get__(None, cls)(ptr)  # owns the C error: freed with it
        return take_refusal() or error

    return classmethod(make)


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
