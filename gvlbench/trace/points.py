"""The wasmtime-py methods `gvlbench trace` watches, by name, for a hook that cannot import
gvlbench (it runs inside the traced program's interpreter, which may have only wasmtime).

They are the store-guard patch's own list (binding/patches.py), so the trace and the guard
agree on what entering a Store means, plus `Instance(...)` (it runs a module's start function
inside the Store) should that list ever lack it.
"""

from __future__ import annotations

from gvlbench.binding.patches import STORE_ENTRY_POINTS

TRACE_ONLY: tuple[tuple[str, str, int], ...] = (("Instance", "__init__", 1),)


def store_entry_points() -> list[tuple[str, str, int]]:
    """[class name, method, index of the Store argument (0: self)] for every entry point."""
    guarded = [(cls.__name__, name, index) for cls, name, index in STORE_ENTRY_POINTS]
    return guarded + [p for p in TRACE_ONLY if p not in guarded]
