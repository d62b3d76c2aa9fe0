"""Was the machine busy? What the gate reads to tell a busy machine from a held lock.

Every lock measurement carries a control timed in the same rounds (binding/control.py:
threads of pure Wasm that need no lock): the overlap of as many threads as the measured
calls, beside the overlap rounds, and `control/1` and `control/T` cells, beside a paired
speedup's. It also carries what the machine gave the child (harness/machine.py: CPU stolen by
the hypervisor, CPU used by other processes). A lock verdict asks the machine for something:
a released overlap of 0.7, a speedup of 1.3. Where the control, needing no lock, could not
reach that in the same rounds, neither could the lock's threads, whatever the lock did, so
the verdict is `unsure` (the machine was busy, and by how much), never `fail`. A row with no
control (the Ruby worker's) has only the machine's share to go by: fewer cores left free than
it ran threads is a busy machine too. A file with neither is judged as it always was.

A speedup is judged by intervals, so its control must have *shown* the machine could give the
limit: the low end of the control's 95% interval at or above it, and the machine's share
leaving as many cores free as threads. A control that straddles the limit, on a box where
another process took a core for part of the run, proves nothing either way (CI saw released
0.93 [0.73-1.15] failed beside such a control while others used 0.96 of 2 cores).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol, TypeVar

from gvlbench.modes import CONTROL, Mode
from gvlbench.report.stats import ProgressRow, SpeedupRow, paired_speedups, progress_rows
from gvlbench.results import Results

OVERLAPPED = "pure Wasm overlapped"
FREE_SLACK = 0.5  # cores: a quiet machine's own daemons and the harness's polling
SPED_UP = "pure Wasm's speedup was at least"


class _Verdict(Protocol):
    verdict: str
    why: str


V = TypeVar("V", bound=_Verdict)


def why(control: float | None, needed: float, what: str, machine: dict[str, Any] | None) -> str:
    """Why a verdict cannot be judged: the control did not reach `needed`; '' when it did, or
    where there is no control."""
    if control is None or control >= needed:
        return ""
    load = machine_words(machine)
    return (f"the machine was busy: {what} {control:.2f} in the same rounds (a verdict "
            f"needs {needed:g}){'; ' + load if load else ''}")  # fmt: skip


def of_speedup(
    control_low: float | None, needed: float, machine: dict[str, Any] | None, threads: int
) -> str:
    """`why` for a speedup row: busy where the low end of the control's interval (pure Wasm,
    no lock, same rounds) is under `needed`, or where steal and other processes left fewer
    cores free than the row ran threads (with half a core of slack); '' otherwise."""
    said = why(control_low, needed, SPED_UP, machine)
    return said or _share(machine, threads)


def of_row(p: ProgressRow, needed: float) -> str:
    """`why` for a progress row: its overlap control decides; a row without one (the Ruby
    worker's) has the machine's share: fewer cores left free by steal and other processes,
    on average over the child's run, than it ran threads (with half a core of slack)."""
    if p.control_median is not None:
        return why(p.control_median, needed, OVERLAPPED, p.machine)
    return _share(p.machine, max(p.overlap_threads, 2))


def _share(machine: dict[str, Any] | None, threads: int) -> str:
    """Busy by the machine's share alone: fewer cores free than `threads` (or than the
    machine has, where it ran more threads than cores), less the slack."""
    free = free_cores(machine)
    if free is None:
        return ""
    assert machine is not None
    if free >= min(threads, int(machine["cpus"])) - FREE_SLACK:
        return ""
    return (f"the machine was busy: {free:.2f} cores free on average for {threads} threads "
            f"({machine_words(machine)})")  # fmt: skip


def free_cores(machine: dict[str, Any] | None) -> float | None:
    """The cores neither stolen nor used by other processes, on average; None unknown."""
    if not machine_words(machine):
        return None
    assert machine is not None
    cpus = float(machine["cpus"])
    return max(0.0, cpus - float(machine["steal_cpus"]) - float(machine["other_cpus"]))


def machine_words(machine: dict[str, Any] | None) -> str:
    """'steal 0.40 of 2 cores, others used 1.62' from a row's `machine` (empty without)."""
    if not isinstance(machine, dict):
        return ""
    try:
        steal, other = float(machine["steal_cpus"]), float(machine["other_cpus"])
        return f"steal {steal:.2f} of {int(machine['cpus'])} cores, others used {other:.2f}"
    except (TypeError, KeyError, ValueError):
        return ""


def judged(rule: V, busy: str) -> V:
    """`rule`, or, when the machine was busy, the same row unsure, saying why."""
    return replace(rule, verdict="unsure", why=busy) if busy else rule  # type: ignore[type-var]


def speedup_control(
    current: Results,
) -> Callable[[SpeedupRow], tuple[float | None, dict[str, Any] | None]]:
    """For a speedup row: the low end of its control's 95% interval at the same thread count
    (what pure Wasm surely got in those rounds), and its child's machine share."""
    controls = paired_speedups(current)
    machines = {(row["scenario"], row.get("interpreter", ""), row["call_path"],
                 row.get("patches", "")): row.get("machine")
                for row in current.speedup}  # fmt: skip

    def find(r: SpeedupRow) -> tuple[float | None, dict[str, Any] | None]:
        key = (r.scenario, r.interpreter, r.call_path, r.patches)
        control = controls.get((*key, CONTROL, r.threads))
        return (control[0].low if control else None), machines.get(key)

    return find


class Limits(Protocol):
    """What the gate asks of the machine (report/gate.GateConfig has them)."""

    released_speedup_min: float
    released_overlap_min: float
    control_overlap_min: float


def control_lines(results: Results, limits: Limits) -> list[str]:
    """One line per measured subject: what its control (pure Wasm, no lock, same rounds)
    got, and, where it or the machine's share could not give what `limits` ask, why: the
    gate's own rule (of_speedup, of_row). The gate asks it only of a verdict the reading did
    not already pass, at the thread count it judges, with its config's limits (`run` gives
    the defaults)."""
    lines = []
    speedups = {key: interval for key, (interval, _) in paired_speedups(results).items()
                if key[4] == CONTROL}  # fmt: skip
    for (scenario, interp, _, _, _, threads), interval in sorted(speedups.items()):
        machine = _machine_of(results, scenario, interp)
        busy = of_speedup(interval.low, limits.released_speedup_min, machine, threads)
        lines.append(_line(f"{scenario}{_at(interp)}: pure Wasm at {threads} threads sped up "
                           f"{interval.median:.2f} [{interval.low:.2f}-{interval.high:.2f}]",
                           busy))  # fmt: skip
    for p in (p for p in progress_rows(results) if p.control_median is not None):
        needed = (limits.control_overlap_min if p.mode == str(Mode.HELD)
                  else limits.released_overlap_min)  # fmt: skip
        lines.append(_line(f"{p.scenario}{_at(p.interpreter)}: pure Wasm beside {p.mode} "
                           f"@{p.overlap_threads} overlapped {p.control_median:.2f}",
                           of_row(p, needed)))  # fmt: skip
    return lines


def _line(text: str, busy: str) -> str:
    if not busy:
        return f"control: {text}"
    return f"control: {text}: {busy}; a gate verdict that needs it reads unsure"


def _at(interpreter: str) -> str:
    return f" ({interpreter})" if interpreter else ""


def _machine_of(results: Results, scenario: str, interp: str) -> dict[str, Any] | None:
    for row in results.speedup:
        if row["scenario"] == scenario and row.get("interpreter", "") == interp:
            return row.get("machine")
    return None
