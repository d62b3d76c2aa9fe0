"""What the hook costs per Store entry, measured in the traced process itself, at its exit.

A private Store (it writes no records) and a mutable global: `Global.value` is one of the
cheapest entry points there is, so the difference between its hooked and plain
(`__wrapped__`) calls is the hook's own cost. Batches alternate, plain then hooked, round
after round, as gvlbench's profile does, so drift on a noisy machine falls on both alike.
The harness multiplies the per-entry cost by the entries it counted.
"""

from __future__ import annotations

import time
from typing import Any

from gvlbench_tracehook import records, state

ROUNDS = 7
CALLS = 300


def measure(wasmtime: Any) -> None:
    """Write an `overhead` record, if this process used any Store of its own."""
    hooked = wasmtime.Global.value
    plain = getattr(hooked, "__wrapped__", None)
    if not state.created() or plain is None:
        return
    state.PRIVATE[0] = True
    try:
        store = wasmtime.Store(wasmtime.Engine())
        ty = wasmtime.GlobalType(wasmtime.ValType.i32(), True)
        glob = wasmtime.Global(store, ty, wasmtime.Val.i32(7))
        plain_ns, hooked_ns = [], []
        for _ in range(ROUNDS):
            plain_ns.append(_per_call_ns(plain, glob, store))
            hooked_ns.append(_per_call_ns(hooked, glob, store))
    finally:
        state.PRIVATE[0] = False
    records.write("overhead", operation="Global.value", rounds=ROUNDS, calls=CALLS,
                  plain_ns=plain_ns, hooked_ns=hooked_ns)  # fmt: skip


def _per_call_ns(fn: Any, glob: Any, store: Any) -> float:
    start = time.perf_counter_ns()
    for _ in range(CALLS):
        fn(glob, store)
    return (time.perf_counter_ns() - start) / CALLS
