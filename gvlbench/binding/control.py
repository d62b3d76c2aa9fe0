"""The control: threads of pure Wasm that need no lock, measured beside the lock's own rounds.

A verdict on a lock ("released overlaps", "released speeds up") assumes the machine could
run two threads at once. A busy host cannot (CPU steal, other tenants, other processes):
on a fresh machine `make run` read mark's released sibling progress 0.56 while every call
took twice as long, then 0.98 once the host settled, and a gate on a shared runner failed a
binding that had not changed. So each measurement of the lock carries a control, timed in
the same rounds: a Wasm spin loop, one Store per thread, called through a `ctypes.CDLL`
handle of `wasmtime_func_call` (the GIL released; never the handle a mode or the
GVLBENCH_FAULT injection picks) with no host import. Nothing in it needs the lock, so how far
its threads overlap, or how much faster two of them go than one, is what the machine gave
in those rounds. The gate (report/gate.py) calls a lock verdict unsure, never failed, where
the control could not reach the rule's own limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import wasmtime

from gvlbench.binding.invoke import PreparedCall, library
from gvlbench.modes import CONTROL, Mode

__all__ = ["CONTROL", "control_calls"]
SPIN_WAT = """(module (func (export "spin") (param $n i64)
  (loop $l
    (local.set $n (i64.sub (local.get $n) (i64.const 1)))
    (br_if $l (i64.gt_s (local.get $n) (i64.const 0))))))"""
PROBE_WORK = 1 << 20  # spin steps timed once to size the control's calls
MIN_CALL_S, MAX_CALL_S = 1e-4, 0.5


class _Released(PreparedCall):
    """A prepared call always through the releasing handle, whatever mode is asked for."""

    def _call_fn(self, mode: Mode) -> Any:
        return library("wasmtime_func_call", Mode.RELEASED)


def control_calls(threads: int, call_s: float) -> list[Callable[[], Any]]:
    """`threads` zero-argument calls of pure Wasm, each on its own Store, each taking about
    `call_s` seconds on an idle core (clamped to 0.1 ms .. 0.5 s)."""
    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, SPIN_WAT)

    def call_of(work: int) -> Callable[[], Any]:
        store = wasmtime.Store(engine)
        spin = wasmtime.Instance(store, module, []).exports(store)["spin"]
        assert isinstance(spin, wasmtime.Func)
        return _Released(store, spin, [work], Mode.RELEASED).raw

    probe = call_of(PROBE_WORK)
    probe()  # first-call costs outside the probe
    start = time.perf_counter()
    probe()
    per_step_s = max(time.perf_counter() - start, 1e-9) / PROBE_WORK
    wanted_s = min(max(call_s, MIN_CALL_S), MAX_CALL_S)
    work = max(1, round(wanted_s / per_step_s))
    return [call_of(work) for _ in range(threads)]
