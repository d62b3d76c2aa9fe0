"""The parent's side of `--timeline PATH`: the children's parts gathered into one file.

Each measuring child that recorded answers with a `timeline.Part`; `TimelineFile.add` puts it
in the file's model under the job's name, and the loop rewrites the file (trace-event JSON)
after every job, as it does the results. The results file gets the summaries (`rows`): one
row per thread (where its time went, its lock waits), one per progress window set against its
sibling's states, and the timeline's own cost per cell (its recorded twins against the cells,
round by round), so `show` prints them without the timeline file.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from gvlbench import timeline as model
from gvlbench.bindings import Feature, Form
from gvlbench.errors import OptionError
from gvlbench.files import check_output, write_atomic
from gvlbench.harness.interpreter import Runtime, binding_of, language_of
from gvlbench.modes import CONTROL, Cell, cell_key
from gvlbench.report.paired import median_interval
from gvlbench.results import Results


def check(path: Path | None, runtimes: tuple[Runtime, ...], form: Form = Form.MODULE,
          conflict: str = "") -> None:  # fmt: skip
    """OptionError (one line) when `--timeline` cannot be given here: an option it cannot go
    with (`conflict`, the line to say), a runtime whose worker records none (Ruby's: its
    version said), a binding whose calls it does not time."""
    if path is None:
        return
    if conflict:
        raise OptionError(conflict)
    if str(path) == "-":
        raise OptionError("--timeline needs a file to write (trace-event JSON), not '-'")
    check_output(path, "--timeline")
    for rt in runtimes or (None,):
        reason = binding_of(rt, form).why_not(Feature.TIMELINE)
        if reason:
            here = f" (this is {rt.describe()})" if language_of(rt) != "python" else ""
            raise OptionError(f"--timeline: {reason}{here}")


class TimelineFile:
    """The timeline being written: what every child recorded so far."""

    def __init__(self, path: Path, command: str, scenario: str) -> None:
        self.path = path
        self.timeline = model.Timeline(command=command, scenario=scenario)

    def add(self, part: model.Part, prefix: str) -> int:
        """A child's part; the pid its first group got."""
        first = len(self.timeline.groups) + 1
        self.timeline.add(part, prefix)
        return first

    def add_overhead(self, scenario: str, cells: dict[Cell, list[float]],
                     traced: dict[Cell, list[float]], loops: int = 1,
                     per_call_ns: list[float] | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """The timeline's cost per cell: the recorded twin's seconds over the cell's, round by
        round (the same rounds: ABBA, rotated), as a median and its 95% interval; and what
        recording adds to one call (`per_call_ns`, measured at a call's resolution) as a
        share of the scenario's calls."""
        rows = []
        cost = median_interval(per_call_ns or [])
        if cost is not None:
            call_s = statistics.median(s / loops for (m, t), v in cells.items() if t == 1
                                       for s in v if m != CONTROL)  # fmt: skip
            rows.append({"kind": "call-cost", "scenario": scenario, "mode": "released",
                         "ns": per_call_ns, "median_ns": cost.median, "ci_low_ns": cost.low,
                         "ci_high_ns": cost.high, "call_s": call_s})  # fmt: skip
            self.timeline.overhead.append({k: v for k, v in rows[-1].items() if k != "ns"})
        for cell, plain in cells.items():
            twin = traced.get(cell)
            if not twin:
                continue
            ratios = [t / p for t, p in zip(twin, plain, strict=False) if p > 0]
            interval = median_interval(ratios)
            if interval is None:
                continue
            mode, threads = cell
            row = {"kind": "overhead", "scenario": scenario, "mode": str(mode),
                   "threads": threads, "ratios": ratios, "median": interval.median,
                   "ci_low": interval.low, "ci_high": interval.high}  # fmt: skip
            rows.append(row)
            self.timeline.overhead.append({k: v for k, v in row.items() if k != "ratios"}
                                          | {"cell": cell_key(mode, threads)})  # fmt: skip
        return rows

    def write(self) -> None:
        write_atomic(self.path, json.dumps(model.to_trace_events(self.timeline)) + "\n")


def rows(tl: model.Timeline, scenario: str, first_pid: int = 1) -> list[dict[str, Any]]:
    """The results rows of the groups from `first_pid` on: one per thread, one per group
    with progress windows."""
    out: list[dict[str, Any]] = []
    for s in model.summarize(tl):
        if s.pid < first_pid:
            continue
        out.append({"kind": "thread", "scenario": scenario, "group": s.group, "mode": s.mode,
                    "threads": s.threads, "thread": s.thread, "role": s.role,
                    "total_s": s.total_s, "shares": s.shares, "waits": s.waits,
                    "wait_median_s": s.wait_median_s,
                    "wait_worst_s": s.wait_worst_s})  # fmt: skip
    for group in tl.groups:
        if group["pid"] < first_pid:
            continue
        found = model.windows(tl, group["pid"])
        if found:
            out.append(_window_row(scenario, group, found))
    return out


def _window_row(scenario: str, group: dict[str, Any], found: list[model.Window]
                ) -> dict[str, Any]:  # fmt: skip
    def med(values: list[float]) -> float:
        return statistics.median(values)

    return {"kind": "sibling", "scenario": scenario, "group": group["label"],
            "mode": group["mode"], "windows": len(found),
            "wait": med([w.shares.get("wait-lock", 0.0) for w in found]),
            "descheduled": med([w.shares.get("descheduled", 0.0) for w in found]),
            "running": med([w.shares.get("running", 0.0) for w in found]),
            "progress": med([w.progress for w in found]),
            "progress_from_states": med([w.progress_from_states for w in found]),
            "alone_running": med([w.alone_running for w in found]),
            "speed": med([w.speed for w in found])}  # fmt: skip


def record(sink: TimelineFile | None, results: Results, part: model.Part | None,
           prefix: str, scenario: str) -> None:  # fmt: skip
    """A child's part into the file, and its summaries into the results."""
    if sink is None or part is None:
        return
    first = sink.add(part, prefix)
    results.timeline.extend(rows(sink.timeline, scenario, first))
