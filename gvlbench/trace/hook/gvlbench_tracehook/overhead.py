"""What the hook cost this process, written at its exit.

Two parts. The fast path, an entry by the thread that entered last, is measured here: a
private Store (it writes no records) and a mutable global; `Global.value` is one of the
cheapest entry points there is, so the difference between its hooked and plain
(`__wrapped__`) calls is the hook's own cost per entry. Batches alternate, plain then hooked,
round after round, as gvlbench's profile does, so drift on a noisy machine falls on both
alike; the harness multiplies it by the entries it counted. Everything else the hook did
inside the program (stacks, records, hashes) was timed as it was spent (clock.py), and so is
the work at exit, this measurement included.
"""

from __future__ import annotations

import time
from typing import Any

from . import clock, records, state

ROUNDS = 7
CALLS = 300


def measure(wasmtime: Any, exit_start_ns: int) -> None:
    """Write an `overhead` record, if this process used any Store of its own.
    `exit_start_ns`: when the hook's work at exit began (a clock.now() reading)."""
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
                  plain_ns=plain_ns, hooked_ns=hooked_ns, slow_ns=clock.spent_ns(),
                  exit_ns=clock.now() - exit_start_ns)  # fmt: skip


def _per_call_ns(fn: Any, glob: Any, store: Any) -> float:
    start = time.perf_counter_ns()
    for _ in range(CALLS):
        fn(glob, store)
    return (time.perf_counter_ns() - start) / CALLS
