"""The child's side of a speedup task: every (mode, thread count) cell, paired round by round.

Why one child and rounds: a speedup is a ratio of two timings, and on a shared, noisy box the
machine's speed drifts over seconds. Measured one cell after another (one pyperf benchmark
each, as `run` did), the drift lands in the ratio: seven idle runs of `run spin --threads 2`
read released 1.58 to 2.25, two of them above what 2 cores can do. Here every cell runs once
per round, in an order that rotates and reverses from round to round, so each round's ratio
compares timings taken within a fraction of a second of each other, and the harness states
the spread of those per-round ratios as a confidence interval (report/paired.py).

Each thread of a T-thread team makes the same `loops` calls as the lone thread does, so
T * t(1) / t(T) is the throughput gain of that round. The first round is a warm-up, dropped.

Beside the cells, two control cells, `control/1` and `control/T` (binding/control.py): pure
Wasm that needs no lock, sized like the lone call, timed in the same rounds, so the gate can
tell "the machine could not run T threads at once" from "the lock stopped releasing".

With a timeline, each cell has a recorded twin: its own Stores and threads, calling through
the timed function (binding/timeline.py), timed in the same rounds as the cells (which stay
unrecorded, so the speedup table is untouched). The twin's per-round time over the cell's is
the timeline's cost, and its threads' states, round by round, are the timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from gvlbench.answers import to_wire
from gvlbench.binding.control import CONTROL, control_calls
from gvlbench.binding.measure import ThreadTeam
from gvlbench.modes import cell_key
from gvlbench.protocol import CallPath, Mode, SpeedupTask

WARMUP_ROUNDS = 1


def _code_target(task: SpeedupTask) -> Any:
    """A code target's statement, its setup run (once per process), or None."""
    if task.code is None:
        return None
    from gvlbench.worker.code import CodeTarget

    return CodeTarget(task.code, Mode.RELEASED)  # patches: applied by the worker already


def _teams(task: SpeedupTask, code: Any = None) -> dict[tuple[Mode, int], ThreadTeam]:
    """A parked team per cell, each thread on its own Store (or its own per-thread setup)."""
    teams: dict[tuple[Mode, int], ThreadTeam] = {}
    if code is not None:
        for mode in task.modes:
            for t in task.threads:
                team = ThreadTeam([code.call] * t)
                _pointed(task, mode)
                team.run(1)  # per-thread setup runs in each thread, untimed
                teams[mode, t] = team
        return teams
    from gvlbench.bindings import driver_for

    driver = driver_for(task.target)
    for mode in task.modes:
        for t in task.threads:
            embs = driver.instances(task.target, mode, task.call_path, t, None)
            for emb in embs:
                emb.checked_call()  # outside the timing: first-call costs and the expectation
            teams[mode, t] = ThreadTeam([e.checked_call for e in embs])
    return teams


def _pointed(task: SpeedupTask, mode: Mode) -> None:
    """A binding's handle may be process-wide (wasmtime-py's is): the stock path and code
    targets point it at the cell's mode before each batch (the lean path carries its own)."""
    if task.code is not None or task.call_path == CallPath.STOCK:
        from gvlbench.bindings import driver_for

        driver_for(task.target).use_mode(mode)


def _calibrate(task: SpeedupTask, timed: Callable[[Mode, int, int], float]) -> int:
    """The smallest power of two of calls per thread whose lone-thread batch takes `batch_s`
    in the slowest mode (so no cell is a handful of microseconds)."""
    loops = 1
    while max(timed(m, 1, loops) for m in task.modes) < task.batch_s:
        loops *= 2
    return loops


def order(cells: list[tuple[Any, int]], round_no: int) -> list[tuple[Any, int]]:
    """The cells of round `round_no`: rounds go in pairs, the second the first reversed (ABBA,
    so a steady drift hits every cell alike), and each pair is rotated by one more, so every
    cell leads a round and no cell always follows the same neighbour."""
    k = (round_no // 2) % len(cells)
    turned = cells[k:] + cells[:k]
    return turned if round_no % 2 == 0 else turned[::-1]


def _add_control(task: SpeedupTask, teams: dict[Any, ThreadTeam], loops: int,
                 lone_s: float) -> None:  # fmt: skip
    """The control cells: one thread and the most threads, each call as long as one of the
    lone thread's (`lone_s` for its `loops` calls)."""
    top = max(task.threads)
    if top > 1:
        for threads in (1, top):
            teams[CONTROL, threads] = ThreadTeam(control_calls(threads, lone_s / loops))


def measure(task: SpeedupTask) -> dict[str, Any]:
    recording = Recording(task) if task.timeline else None
    code = _code_target(task)
    teams: dict[Any, ThreadTeam] = dict(_teams(task, code))
    if recording is not None:  # after the plain teams: their host functions stay untimed
        teams.update(recording.teams(code))

    def timed(key: tuple[Any, ...], loops: int, round_no: int = -1) -> float:
        mode, threads = key[-2:]
        if recording is not None and len(key) == 3:
            return recording.timed(teams[key], Mode(mode), threads, loops, round_no)
        if mode != CONTROL:
            _pointed(task, Mode(mode))
        return teams[key].run(loops)

    try:
        loops = _calibrate(task, lambda m, t, n: timed((m, t), n))
        _add_control(task, teams, loops, max(timed((m, 1), loops) for m in task.modes))
        cells = list(teams)
        seconds: dict[tuple[Any, ...], list[float]] = {c: [] for c in cells}
        started = time.perf_counter()
        for r in range(task.rounds + WARMUP_ROUNDS):
            for cell in order(cells, r):
                elapsed = timed(cell, loops, r - WARMUP_ROUNDS)
                if r >= WARMUP_ROUNDS:
                    seconds[cell].append(elapsed)
            if r >= WARMUP_ROUNDS + 2 and time.perf_counter() - started > task.budget_s:
                break  # a slow target: fewer rounds, said by the answer's round count
    finally:
        for team in teams.values():
            team.close()
    doc = {
        "loops": loops,
        "cells": {cell_key(*c): s for c, s in seconds.items() if len(c) == 2},
        "system": system_metadata(),
    }
    if recording is not None:
        from gvlbench.binding.timeline import call_cost_ns

        doc["traced"] = {cell_key(*c[1:]): s for c, s in seconds.items() if len(c) == 3}
        doc["timeline"] = to_wire(recording.part())
        doc["timeline_cost_ns"] = call_cost_ns(recording.recorder)
    return doc


TRACED = "traced"  # the first part of a recorded twin's key: ("traced", mode, threads)


class Recording:
    """The recorded twins of a speedup's cells and what they recorded, round by round."""

    def __init__(self, task: SpeedupTask) -> None:
        from gvlbench.binding.timeline import Recorder

        self.task = task
        self.recorder = Recorder()
        self.tracks: list[Any] = []
        self.rounds: list[list[Any]] = []
        self.groups = {}
        if task.code is not None:  # its setup defines its host functions: timed from the start
            self.recorder.install_trampoline()

    def teams(self, code: Any) -> dict[tuple[Any, ...], ThreadTeam]:
        """A twin team per cell, its Stores made through the timed call and trampoline (a
        code target's twins share its statement: they record through the stock path)."""
        task, teams = self.task, {}
        for mode in task.modes:
            for t in task.threads:
                with self.recorder.building(mode):
                    built = _teams(replace(task, modes=(mode,), threads=(t,)), code)
                teams[TRACED, mode, t] = built[mode, t]
        return teams

    def timed(self, team: ThreadTeam, mode: Mode, threads: int, loops: int,
              round_no: int) -> float:  # fmt: skip
        """One round of a twin, recorded (a warm-up or calibration round is not kept)."""
        from gvlbench.timeline import Group

        if self.task.code is not None or self.task.call_path == CallPath.STOCK:
            self.recorder.use_stock(mode)
        self.recorder.start()
        begun = time.perf_counter_ns()
        elapsed = team.run(loops)
        ended = time.perf_counter_ns()
        self.recorder.stop()
        if round_no >= 0:
            key = cell_key(mode, threads)
            self.rounds.append([key, round_no, begun, ended])
            for i, tid in enumerate(team.native_ids):
                self.tracks.append(self.recorder.track(key, f"gvlbench-{i}", tid, mode))
            self.groups.setdefault(
                key,
                Group(key, f"{mode}, {threads} thread{'s' * (threads > 1)}", str(mode), threads),
            )
        return elapsed

    groups: dict[str, Any]

    def part(self) -> Any:
        from gvlbench.binding.timeline import merged

        order = [cell_key(m, t) for m in self.task.modes for t in self.task.threads]
        groups = sorted(self.groups.values(), key=lambda g: order.index(g.key))
        return self.recorder.part(groups, merged(self.tracks), self.rounds)


def system_metadata() -> dict[str, Any]:
    """What pyperf records about the process that measured (python_version, cpu_count,
    hostname, ...), collected here, in the measuring interpreter, as pyperf's own workers
    do: the harness builds the benchmarks and must not stamp its own interpreter on them."""
    import pyperf

    md = pyperf.Run([1.0], metadata={"name": "probe"}, collect_metadata=True).get_metadata()
    return {k: v for k, v in md.items() if k not in ("name", "loops", "unit")}
