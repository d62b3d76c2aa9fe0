"""The child's side of `gvlbench profile`: one statement's time, phase by phase.

The hooks (binding/profile.py) go in before anything else, patches and setup included, so
the setup's own compiling and instantiating are seen too. Three columns come back: the setup
(once, this thread's per-thread setup included), the first run of the statement (first-call
costs: lazy compilation, caches), and the steady state: `rounds` rounds, each a batch of plain
runs then a batch of hooked ones, so the hooks' own cost is measured in the same seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gvlbench.binding.profile import PHASES, Profiler, install
from gvlbench.protocol import ProfileTask
from gvlbench.worker.code import target_of


def _timed(profiler: Profiler, fn: Callable[[], Any]) -> dict[str, Any]:
    """Run `fn` hooked; its wall time and each phase's time and entries."""
    profiler.reset()
    profiler.enabled = True
    start = time.perf_counter_ns()
    try:
        fn()
    finally:
        profiler.enabled = False
    return {"total_s": (time.perf_counter_ns() - start) / 1e9, **_phases(profiler, 1)}


def _phases(profiler: Profiler, runs: int) -> dict[str, Any]:
    return {"phase_s": {p: profiler.ns[p] / 1e9 / runs for p in PHASES},
            "calls": {p: profiler.calls[p] / runs for p in PHASES}}  # fmt: skip


def run_profile(task: ProfileTask) -> dict[str, Any]:
    profiler = install()
    recorder = None
    if task.timeline:  # before the setup: the host functions it defines are timed
        from gvlbench.binding.timeline import Recorder

        recorder = Recorder()
        recorder.install_trampoline()
    holder: list[Any] = []
    setup = _timed(profiler, lambda: holder.append(target_of(task).statement()))
    stmt = holder[0]  # this thread's statement, its per-thread setup done
    first = _timed(profiler, stmt)
    per_round = max(1, int(task.budget_s / 2 / task.rounds / max(first["total_s"], 1e-6)))
    plain_s, hooked_s = [], []
    profiler.reset()
    for _ in range(task.rounds):
        start = time.perf_counter_ns()
        for _ in range(per_round):
            stmt()
        plain_s.append((time.perf_counter_ns() - start) / 1e9 / per_round)
        profiler.enabled = True
        start = time.perf_counter_ns()
        for _ in range(per_round):
            stmt()
        hooked_s.append((time.perf_counter_ns() - start) / 1e9 / per_round)
        profiler.enabled = False
    steady = _phases(profiler, task.rounds * per_round)
    doc = {
        "runs": task.rounds * per_round,
        "plain_s": plain_s,
        "hooked_s": hooked_s,
        "setup": setup,
        "first": first,
        "steady": steady,
    }
    doc["progress"], part = _sibling_progress(stmt, task.rounds, recorder, task)
    if part is not None:
        from gvlbench.answers import to_wire

        doc["timeline"] = to_wire(part)
    return doc


def _sibling_progress(stmt: Callable[[], Any], repeats: int, recorder: Any,
                      task: ProfileTask) -> tuple[list[float], Any]:  # fmt: skip
    """How far a pure-Python sibling got during the statement, against its rate alone, once
    per round: whether the statement lets other threads run is measured here, not assumed
    (a compiled extension's engine may release the lock or not). With a recorder, the
    statement's and the sibling's states too (a timeline part)."""
    from gvlbench.binding.measure import Sibling, measure_progress

    sibling = Sibling(own_ticks=recorder is not None)
    recording = None
    if recorder is not None:
        from gvlbench.binding.timeline import ProgressTimeline
        from gvlbench.timeline import Group

        recorder.use_stock(task.mode)
        group = Group("progress", f"{task.mode}: the statement and a sibling", str(task.mode))
        recording = ProgressTimeline(recorder, group, sibling, task.mode)
        stmt = recording.wrap(stmt)
    try:
        samples = measure_progress(stmt, [], sibling, repeats, around=True,
                                   observe=recording and recording.observe)  # fmt: skip
    finally:
        sibling.stop()
    return [s.ratio for s in samples], recording and recording.part()
