"""wasmtime-py's component model where gvlbench reaches into it: the call's handle per mode,
and the component entry points the guards and patches cover.

wasmtime-py (50.x) binds every libwasmtime function twice in `wasmtime._bindings`: `_name`,
the ctypes function on `ctypes.cdll` (so ctypes releases the GIL around it), and `name`, a
Python wrapper that looks `_name` up at each call (re-exported as `wasmtime._ffi.name`, which
the component classes call). A component call enters the Store through
`wasmtime_component_func_type` (Func.__call__ asks for its parameter types), then
`wasmtime_component_func_call`, whose Wasm runs inside it, realloc and post-return included.
`held` points `_bindings._wasmtime_component_func_call` at a `ctypes.PyDLL` function of the
very same library with the same signature, so every component call of the process keeps the
GIL; `released` puts wasmtime-py's own back. The native guard (native_stock.py) swaps in the
shim's functions through `set_calls`, as it does for the core call (invoke.set_stock_calls).

wasmtime_component_func_post_return is a no-op since wasmtime 42, kept for compatibility:
nothing guards it (a refused post_return would turn a call that succeeded into an error).
"""

from __future__ import annotations

import ctypes
from functools import cache
from typing import Any

from gvlbench.binding import internals
from gvlbench.binding.invoke import effective_mode
from gvlbench.protocol import Mode

FUNC_CALL = "wasmtime_component_func_call"

# every component entry point wasmtime-py 50.x calls with a `wasmtime_context_t *`, less
# post_return (see above); guard.c's COMPONENT_ENTRY_POINTS, by what tells a refusal:
ERROR_ENTRIES = (
    FUNC_CALL, "wasmtime_component_linker_instantiate", "wasmtime_component_resource_any_drop",
    "wasmtime_component_resource_any_to_host", "wasmtime_component_resource_host_to_any",
)  # fmt: skip
VALUE_ENTRIES = (  # NULL / false: a refusal, or a real "not found"
    "wasmtime_component_func_type", "wasmtime_component_instance_get_export_index",
    "wasmtime_component_instance_get_func",
)  # fmt: skip


@cache
def _own_calls() -> dict[Mode, Any]:
    """wasmtime-py's own binding of the call (released) and the same symbol through a PyDLL
    handle of the same file (held), with wasmtime-py's restype and argtypes."""
    stock = internals.binding(FUNC_CALL)
    held = ctypes.PyDLL(internals.LIBRARY_PATH)[FUNC_CALL]  # item access: a fresh object
    held.restype, held.argtypes = stock.restype, stock.argtypes
    return {Mode.RELEASED: stock, Mode.HELD: held}


_CALLS: dict[Mode, Any] = {}  # the native guard's shim functions while it is in place


def set_calls(calls: dict[Mode, Any] | None) -> None:
    """Make `use_mode` point at `calls` from now on (None: wasmtime-py's own and the PyDLL)."""
    _own_calls()  # wasmtime-py's own, captured before anything replaces it
    _CALLS.clear()
    _CALLS.update(calls or {})


def use_mode(mode: Mode) -> None:
    """Point wasmtime-py's binding of wasmtime_component_func_call at the handle for `mode`
    (process-wide: every component call of every package in this process)."""
    calls = _CALLS or _own_calls()
    internals.set_stock_entry_points({f"_{FUNC_CALL}": calls[effective_mode(mode)]})


def holds_the_gil() -> bool:
    """Whether the component call, as wasmtime-py's binding points now, keeps the GIL (a
    function on a PyDLL handle carries ctypes' FUNCFLAG_PYTHONAPI)."""
    flag = ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]
    return bool(internals.binding(FUNC_CALL)._flags_ & flag)


def store_entry_points() -> tuple[tuple[type, str, int], ...]:
    """The component classes' methods that enter a Store, for the Python `store-guard` patch
    (class, method, the index of the Store argument): every one that reaches an entry point
    above. Func.post_return is left out, as the native guard leaves it."""
    from wasmtime import component as cm

    return (
        (cm.Func, "__call__", 1),
        (cm.Func, "type", 1),
        (cm.Instance, "get_export_index", 1),
        (cm.Instance, "get_func", 1),
        (cm.Linker, "instantiate", 1),
        (cm.ResourceAny, "drop", 1),
        (cm.ResourceAny, "to_host", 1),
        (cm.ResourceHost, "to_any", 1),
    )
