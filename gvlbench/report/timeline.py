"""A timeline's summaries as tables: where each thread's time went (as gvl_timing splits a
thread's time into running, idle and stalled), its sibling against its progress, and what
recording cost. Reads the results' `timeline` rows (harness/timeline.py writes them)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from gvlbench.report.render import fmt_time
from gvlbench.timeline import STATES

# the columns, in this order, of the states a row may have (each a share of its time)
_SHORT = {"wasm-released": "Wasm (GIL off)", "wasm-held": "Wasm (GIL held)",
          "wasm": "Wasm", "call": "call", "wait-return": "wait: return",
          "wait-callback": "wait: callback", "callback": "callback", "python": "Python",
          "guard-wait": "guard wait", "running": "running", "wait-lock": "wait: GIL",
          "descheduled": "not run (OS)", "asleep": "asleep"}  # fmt: skip


def thread_table(rows: list[dict[str, Any]]) -> Table | None:
    """One row per recorded thread, grouped as recorded (a speedup cell, a caller with its
    sibling, a race trial): the share of its recorded time in each state, and its lock
    waits (after a call, before a callback, a Python thread's): how many, median, worst."""
    rows = [r for r in rows if r.get("kind") == "thread"]
    if not rows:
        return None
    states = [s for s in STATES if any(s in r["shares"] for r in rows)]
    table = Table(title="Where each thread's time went (timeline)")
    for header in ("group", "thread", "recorded"):
        table.add_column(header, justify="right" if header == "recorded" else "left")
    for s in states:
        table.add_column(_SHORT[s], justify="right")
    for header in ("waits", "median", "worst"):
        table.add_column(header, justify="right")
    last = None
    for r in rows:
        group = r["group"] if r["group"] != last else ""
        last = r["group"]
        shares = [_share(r["shares"].get(s)) for s in states]
        table.add_row(group, r["thread"], fmt_time(r["total_s"]), *shares, str(r["waits"]),
                      fmt_time(r["wait_median_s"]), fmt_time(r["wait_worst_s"]))  # fmt: skip
    table.caption = ("shares of each thread's recorded time; waits: for the GIL after a Wasm "
                     "call returned, before a host callback ran, or (a sibling) between its "
                     "steps, measured: the native timestamp against Python's, or the kernel's "
                     "account of the sibling's time")  # fmt: skip
    return table


def _share(value: float | None) -> str:
    return "" if not value else f"{value:.1%}" if value >= 0.001 else "<0.1%"


def sibling_lines(rows: list[dict[str, Any]]) -> list[str]:
    """Per caller with a sibling: the sibling's states during the measured windows against
    the progress ratio measured over the same windows."""
    out = []
    for r in rows:
        if r.get("kind") != "sibling":
            continue
        out.append(
            f"{r['group']}: during the {r['windows']} measured windows the sibling waited for "
            f"the GIL {r['wait']:.1%}, ran {r['running']:.1%} and was not run by the OS "
            f"{r['descheduled']:.1%} (alone: run {r['alone_running']:.0%} of the time; while "
            f"running, {r.get('speed', 1.0):.2f}x its speed alone); progress measured "
            f"{r['progress']:.3f}, from its states {r['progress_from_states']:.3f}"
        )
    return out


def overhead_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The timeline's own cost: each cell's recorded twin against the cell, same rounds."""
    found = [r for r in rows if r.get("kind") == "overhead"]
    if not found:
        return []
    top = max(r["threads"] for r in found)
    cells = ", ".join(
        f"{r['mode']} {r['median']:.3f} ({r['ci_low']:.3f}-{r['ci_high']:.3f})"
        for r in found
        if r["threads"] == top
    )
    lines = [f"timeline overhead on {found[0]['scenario']} at {top} thread{'s' * (top > 1)}: "
             f"{cells} (recorded / plain time per round, median and 95% interval)"]  # fmt: skip
    for r in rows:
        if r.get("kind") == "call-cost":
            share = r["median_ns"] / 1e9 / r["call_s"] if r["call_s"] else 0.0
            lines.append(f"timeline cost per call: {r['median_ns'] / 1e3:+.2f} us "
                         f"({r['ci_low_ns'] / 1e3:+.2f} to {r['ci_high_ns'] / 1e3:+.2f}; a call of "
                         f"a few Wasm steps, plain against recorded), {share:.4%} of one "
                         f"{r['scenario']} call ({fmt_time(r['call_s'])})")  # fmt: skip
    return lines
