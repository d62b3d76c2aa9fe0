"""A statement's time by phase: rows from `gvlbench profile` documents, and their table.

The statement's own Python is what no hook claimed: the hooked run's time minus every phase.
Shares are of the hooked run (the phases were timed in it); the unhooked time beside it says
how far the hooks themselves slowed the statement down.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.table import Table

from gvlbench.report.render import fmt_time
from gvlbench.results import Results

PHASE_LABELS = {
    "compile": "compiling (Engine, Module)",
    "instantiate": "instantiating (Store, Linker, instance, WASI)",
    "wasm": "inside Wasm calls (Func.__call__)",
    "binding": "other binding calls (memory, globals, tables, exports)",
    "host": "host callbacks (Python called from Wasm)",
    "python": "Python outside the binding",
}


@dataclass(frozen=True)
class PhaseRow:
    scenario: str
    mode: str
    patches: str
    phase: str
    setup_s: float
    first_s: float
    steady_s: float
    share: float  # of the hooked steady run
    calls: float  # entries per steady run


@dataclass(frozen=True)
class ProfileSummary:
    scenario: str
    mode: str
    patches: str
    runs: int
    plain_s: float  # mean per run, unhooked
    hooked_s: float  # mean per run, hooked (the phases are means over the same runs)
    rows: tuple[PhaseRow, ...]
    # a sibling thread's progress during the statement (median over rounds): whether the lock
    # was free for it; None in files written before it was measured
    progress: float | None = None
    # the binding the statement called Wasm through; "" for wasmtime-py's (the hooks see it)
    binding: str = ""
    unhooked_reason: str = ""  # why the hooks cannot split this binding's time into phases

    @property
    def hook_overhead(self) -> float:
        return self.hooked_s / self.plain_s - 1 if self.plain_s else 0.0


def _with_python(part: dict[str, Any], total_s: float) -> dict[str, float]:
    phases = dict(part["phase_s"])
    phases["python"] = max(0.0, total_s - sum(phases.values()))
    return phases


def summaries(res: Results) -> list[ProfileSummary]:
    binding = str(res.metadata.get("binding", ""))
    reason = _unhooked(binding)
    out = []
    for p in res.profile:
        plain, hooked = statistics.fmean(p["plain_s"]), statistics.fmean(p["hooked_s"])
        setup = _with_python(p["setup"], p["setup"]["total_s"])
        first = _with_python(p["first"], p["first"]["total_s"])
        steady = _with_python(p["steady"], hooked)
        calls = p["steady"]["calls"]
        rows = tuple(
            PhaseRow(p["scenario"], p["mode"], p.get("patches", ""), phase, setup[phase],
                     first[phase], steady[phase], steady[phase] / hooked if hooked else 0.0,
                     calls.get(phase, 0.0))
            for phase in PHASE_LABELS
        )  # fmt: skip
        progress = statistics.median(p["progress"]) if p.get("progress") else None
        out.append(ProfileSummary(p["scenario"], p["mode"], p.get("patches", ""), p["runs"],
                                  plain, hooked, rows, progress, binding, reason))  # fmt: skip
    return out


def _unhooked(binding: str) -> str:
    """Why the phase hooks cannot see inside `binding` ("" where they can)."""
    if not binding:
        return ""
    from gvlbench import bindings
    from gvlbench.bindings import Feature

    try:
        found = bindings.get(binding)
    except Exception:  # a file from a binding this gvlbench does not know
        return f"the {binding} binding is unknown here"
    return found.why_not(Feature.PHASES) or ""


def to_json(summary: ProfileSummary) -> dict[str, Any]:
    return {
        "scenario": summary.scenario, "mode": summary.mode, "patches": summary.patches,
        "runs": summary.runs, "plain_s": summary.plain_s, "hooked_s": summary.hooked_s,
        "hook_overhead": summary.hook_overhead, "progress": summary.progress,
        "binding": summary.binding,
        "phases": [{"phase": r.phase, "setup_s": r.setup_s, "first_s": r.first_s,
                    "steady_s": r.steady_s, "share": r.share, "calls": r.calls}
                   for r in summary.rows],
    }  # fmt: skip


def _time(seconds: float) -> str:
    return fmt_time(seconds) if seconds > 0 else "-"


def table(summary: ProfileSummary) -> Table:
    title = f"Where the time goes: {summary.scenario}, {summary.mode}"
    if summary.patches:
        title += f", {summary.patches}"
    t = Table(title=escape(title))
    for col in ("phase", "setup (once)", "first run", "per run", "share", "calls/run"):
        if col == "phase":  # wraps a long N/A reason instead of widening every row
            t.add_column(col, justify="left", max_width=60, overflow="fold")
        else:
            t.add_column(col, justify="right")
    if summary.unhooked_reason:  # the phases would all read 0: one honest row instead
        whole = next(r for r in summary.rows if r.phase == "python")
        t.add_row(f"the statement, whole (inside the {summary.binding} binding and Python)",
                  _time(whole.setup_s), _time(whole.first_s), _time(whole.steady_s), "100.0%",
                  "")  # fmt: skip
        t.add_row(escape(f"phases: N/A ({summary.unhooked_reason})"), "", "", "", "", "",
                  style="dim")  # fmt: skip
    else:
        for r in summary.rows:
            t.add_row(PHASE_LABELS[r.phase], _time(r.setup_s), _time(r.first_s),
                      _time(r.steady_s), f"{r.share:.1%}",
                      f"{r.calls:.3g}" if r.phase != "python" else "")  # fmt: skip
    t.caption = (
        f"per run: mean of {summary.runs} hooked runs ({_time(summary.hooked_s)}); unhooked "
        f"{_time(summary.plain_s)}, so the hooks added {summary.hook_overhead:+.1%}; "
        "time is exclusive (a callback inside a call is the callback's)"
        + _progress_note(summary.progress)
    )
    return t


def _progress_note(progress: float | None) -> str:
    """What a sibling thread got done during the statement, and what that says of the lock."""
    if progress is None:
        return ""
    verdict = ("the lock was free for it: the statement releases it" if progress >= 0.5
               else "the statement kept the lock for most of its run" if progress < 0.2
               else "it ran part of the time")  # fmt: skip
    return f"\nsibling progress during the statement: {progress:.2f} of its speed alone ({verdict})"
