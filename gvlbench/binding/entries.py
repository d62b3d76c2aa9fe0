"""The Store's entry points besides the call, one operation each, along every call path.

`race --guard-cost` prices each guard design on each entry point the way it prices the call:
the same operation unguarded and guarded, in interleaved batches. An operation is a
zero-argument callable on one Store of wat/entries.wat (a memory, a mutable global, a funcref
table) on an engine that counts fuel:

- `stock`: wasmtime-py's public API (`Memory.size(store)`, `Global.value(store)`, ...). The
  native designs re-point its bindings at the shim process-wide (`native_stock.use_stock`),
  as `--patch store-guard-native` does; the Python guard wraps the operation.
- `lean`: what a binding does with its arguments prepared once: one foreign call, the check
  it needs (an error pointer, a bounds result) and the value converted. A guarded entry point
  with no error channel (memory_size, global_get) is checked only when it returns the value a
  refusal returns, so the only Python the guard adds to it is one comparison.
- `raw`: the one foreign call, nothing looked at.

memory.read and memory.write are one foreign call on the lean and raw paths, unguarded too: a
native binding's Memory#read takes the data pointer, checks the bounds and copies in one
native call, so the shim exports that (`gvlbench_plain_memory_read`) beside its guarded twin.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wasmtime

from gvlbench.binding import internals
from gvlbench.binding.embed import load_module
from gvlbench.binding.invoke import CallPath, Mode, effective_mode, library
from gvlbench.designs import ACCESSORS
from gvlbench.errors import UnavailableError

FUEL = 10**12  # what fuel.set writes, and a Store starts with: no operation runs out
BYTES = 64  # what memory.read and memory.write copy
DATA = bytes(range(BYTES))
GLOBAL_REFUSED = -(2**62)  # what the shim writes into a refused global_get's value

Operation = Callable[[], Any]


@dataclass
class EntryStore:
    """wat/entries.wat instantiated in one Store, on an engine that counts fuel."""

    store: wasmtime.Store
    instance: wasmtime.Instance
    memory: wasmtime.Memory
    glob: wasmtime.Global
    table: wasmtime.Table

    @classmethod
    def make(cls, wasm_path: str) -> EntryStore:
        internals.require("the native guard's entry points")
        config = wasmtime.Config()
        config.consume_fuel = True
        engine = wasmtime.Engine(config)
        store = wasmtime.Store(engine)
        store.set_fuel(FUEL)
        instance = wasmtime.Instance(store, load_module(engine, wasm_path), [])
        exports = instance.exports(store)
        return cls(store, instance, exports["memory"], exports["global"], exports["table"])


def stock(es: EntryStore, kind: str) -> Operation:
    """`kind` through wasmtime-py's public API."""
    store, mem, glob, table = es.store, es.memory, es.glob, es.table
    operations: dict[str, Operation] = {
        "memory.size": lambda: mem.size(store),
        "memory.read": lambda: mem.read(store, 0, BYTES),
        "memory.write": lambda: mem.write(store, DATA, 0),
        "global.get": lambda: glob.value(store),
        "global.set": lambda: glob.set_value(store, 7),
        "table.get": lambda: table.get(store, 0),
        "fuel.get": store.get_fuel,
        "fuel.set": lambda: store.set_fuel(FUEL),
    }
    return operations[kind]


@dataclass(frozen=True)
class Functions:
    """The C functions a prepared operation calls: the library's (or the shim's plain memory
    copy) unguarded, the shim's guarded ones through a guard. `check` raises the refusal an
    entry with no error channel recorded."""

    fn: Callable[[str], Any]  # libwasmtime name -> function with no argtypes
    check: Callable[[], None]


def prepared(es: EntryStore, kind: str, path: CallPath, fns: Functions) -> Operation:
    """`kind` with its arguments built once, through `fns`, along the lean or raw path."""
    if kind not in ACCESSORS:
        raise KeyError(kind)
    ctx = internals.store_context(es.store)
    raw = path is CallPath.RAW
    operation = _BUILDERS[kind.split(".")[0]](es, kind, ctx, fns, raw)
    operation.keep_alive = es  # type: ignore[attr-defined]  # the Store outlives its pointers
    return operation


def _failer(fns: Functions) -> Callable[[int | None], None]:
    """Raise for a returned error: the guard's StoreInUseError when it was a refusal."""
    check = fns.check

    def fail(error: int | None) -> None:
        if error:
            err = internals.error_from_ptr(error)  # owns the C error: freed with it
            check()
            raise err

    return fail


def _memory(es: EntryStore, kind: str, ctx: Any, fns: Functions, raw: bool) -> Operation:
    ref = ctypes.byref(es.memory._memory)
    if kind == "memory.size":
        size, check = fns.fn("wasmtime_memory_size"), fns.check
        if raw:
            return lambda: size(ctx, ref)

        def lean_size() -> int:
            pages = size(ctx, ref)
            if not pages:  # a refusal returns 0 (a memory of no pages checks for nothing)
                check()
            return pages

        return lean_size
    buf = (ctypes.c_char * BYTES)()
    if kind == "memory.write":
        buf.raw = DATA
    copy = fns.fn("memory_read" if kind == "memory.read" else "memory_write")
    offset, length = ctypes.c_uint64(0), ctypes.c_size_t(BYTES)
    if raw:
        return lambda: copy(ctx, ref, offset, buf, length)
    _fail = _failer(fns)
    if kind == "memory.write":
        return lambda: _fail(copy(ctx, ref, offset, buf, length))

    def lean_read() -> bytes:
        error = copy(ctx, ref, offset, buf, length)
        if error:
            _fail(error)
        return buf.raw

    return lean_read


def _global(es: EntryStore, kind: str, ctx: Any, fns: Functions, raw: bool) -> Operation:
    ref = ctypes.byref(es.glob._global)
    val = internals.VAL_T()
    val.kind, val.of.i64 = 1, 7  # i64
    view = ctypes.c_int64.from_buffer(val, internals.VAL_T.of.offset)
    out = ctypes.byref(val)
    if kind == "global.set":
        set_ = fns.fn("wasmtime_global_set")
        if raw:
            return lambda: set_(ctx, ref, out)
        _fail = _failer(fns)
        return lambda: _fail(set_(ctx, ref, out))
    get, check = fns.fn("wasmtime_global_get"), fns.check
    if raw:
        return lambda: get(ctx, ref, out)

    def lean_get() -> int:
        get(ctx, ref, out)
        value = view.value
        if value == GLOBAL_REFUSED:  # what a refusal writes (a real value is checked too)
            check()
        return value

    return lean_get


def _table(es: EntryStore, kind: str, ctx: Any, fns: Functions, raw: bool) -> Operation:
    ref, val = ctypes.byref(es.table._table), internals.VAL_T()
    get, check, out, index = fns.fn("wasmtime_table_get"), fns.check, ctypes.byref(val), 0
    if raw:
        return lambda: get(ctx, ref, index, out)

    def lean_get() -> int:
        if not get(ctx, ref, index, out):  # out of bounds, or refused
            check()
            raise IndexError("table index out of bounds")
        return val.kind

    return lean_get


def _fuel(es: EntryStore, kind: str, ctx: Any, fns: Functions, raw: bool) -> Operation:
    if kind == "fuel.set":
        set_, fuel = fns.fn("wasmtime_context_set_fuel"), ctypes.c_uint64(FUEL)
        if raw:
            return lambda: set_(ctx, fuel)
        _fail = _failer(fns)
        return lambda: _fail(set_(ctx, fuel))
    get, left, _fail = fns.fn("wasmtime_context_get_fuel"), ctypes.c_uint64(), _failer(fns)
    out = ctypes.byref(left)
    if raw:
        return lambda: get(ctx, out)

    def lean_get() -> int:
        error = get(ctx, out)
        if error:
            _fail(error)
        return left.value

    return lean_get


_BUILDERS = {"memory": _memory, "global": _global, "table": _table, "fuel": _fuel}


def unguarded(mode: Mode, plain_copy: Callable[[str], Any] | None) -> Functions:
    """The library's own functions for `mode` (memory copies: the shim's plain ones)."""

    def fn(name: str) -> Any:
        if name.startswith("memory_"):
            if plain_copy is None:
                raise UnavailableError(
                    "memory.read and memory.write on the lean and raw paths copy in C: "
                    "the native shim is not built here"
                )
            return plain_copy(name)
        return library(name, effective_mode(mode))

    return Functions(fn, lambda: None)
