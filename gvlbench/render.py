"""Rich tables and plain JSON views of results: render functions read, never measure or print."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.markup import escape
from rich.table import Table

from gvlbench.compare import CompareRow, ProgressCompareRow
from gvlbench.gate import Rule
from gvlbench.guard_cost import GuardCostRow
from gvlbench.race import RaceRow
from gvlbench.stats import ProgressRow, SpeedupRow
from gvlbench.verify import CheckResult


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g}{unit}"
    return f"{seconds / 1e-9:.3g}ns"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def _status(status: str) -> str:
    return status if status == "ok" else f"[red]{status}[/red]"


def _table(
    title: str, columns: list[str], left: set[str], scenarios: set[str], failed: bool
) -> Table:
    """Scenario column only when rows span several scenarios; status only when one failed."""
    if not failed:
        columns = [c for c in columns if c != "status"]
    if len(scenarios) == 1:
        title = f"{title}: {next(iter(scenarios))}"
    else:
        columns = ["scenario", *columns]
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="left" if col in left | {"scenario"} else "right")
    return table


def speedup_table(rows: list[SpeedupRow], cpus: int) -> Table:
    scenarios = {r.scenario for r in rows}
    failed = any(r.status != "ok" for r in rows)
    table = _table(
        "Parallel speedup",
        ["mode", "threads", "wall", "±MAD", "n", "calls/s", "speedup", "effic.", "status"],
        {"mode", "status"},
        scenarios,
        failed,
    )
    for r in rows:
        cells = [
            r.mode,
            str(r.threads),
            fmt_time(r.wall_median_s),
            fmt_time(r.wall_mad_s),
            str(r.values or "-"),
            _num(r.calls_per_s, "{:,.1f}"),
            _num(r.speedup),
            _num(r.efficiency),
        ] + ([_status(r.status)] if failed else [])
        table.add_row(*([r.scenario] if len(scenarios) > 1 else []), *cells)
    table.caption = (
        f"wall: median time for every thread to make one call (each owns its Store); "
        f"speedup: throughput vs 1 thread, same mode; effic.: speedup / min(threads, {cpus} cores)"
    )
    return table


def progress_table(rows: list[ProgressRow]) -> Table:
    scenarios = {r.scenario for r in rows}
    failed = any(r.status != "ok" for r in rows)
    table = _table(
        "Sibling progress during the call",
        ["mode", "measured", "median", "min", "max", "call", "n", "overlap", "status"],
        {"mode", "measured", "status"},
        scenarios,
        failed,
    )
    for r in rows:
        cells = [
            r.mode,
            r.via,
            _num(r.ratio_median, "{:.3f}"),
            _num(r.ratio_min, "{:.3f}"),
            _num(r.ratio_max, "{:.3f}"),
            fmt_time(r.call_median_s),
            str(r.samples or "-"),
            "-" if r.overlap_median is None else f"{r.overlap_median:.2f} @{r.overlap_threads}",
        ] + ([_status(r.status)] if failed else [])
        table.add_row(*([r.scenario] if len(scenarios) > 1 else []), *cells)
    table.caption = (
        "a pure-Python thread's counting rate during the call / its rate alone: "
        "1.0 = unhindered, 0 = stopped for the whole call; overlap @N: N threads calling at "
        "once, how much their calls' CPU time overlapped (1 = all at once, 0 = serialised)"
    )
    return table


def race_table(rows: list[RaceRow], threads: int, duration_s: float | None) -> Table:
    within = f", each up to {duration_s:g} s" if duration_s else ""
    table = Table(title=f"Store race: {threads} threads calling in a loop{within}")
    for col in ("store, mode", "trials", "crashed", "to crash", "raised", "hung", "lived"):
        table.add_column(col, justify="left" if col == "store, mode" else "right")
    table.add_column("what was seen", overflow="fold")
    for r in rows:
        crash = f"{r.crashed} ({r.crash_rate:.0%})"
        if r.crashed:
            crash = f"[red]{crash}[/red]"
        when = "-" if r.crash_median_s is None else (
            f"{fmt_time(r.crash_median_s)} / {fmt_time(r.crash_max_s)}")  # fmt: skip
        seen = [f"{n}x {escape(sig)}" for sig, n in sorted(r.signatures.items())]
        seen += [f"{n}x {escape(exc)}" for exc, n in sorted(r.exceptions.items())
                 if exc != "StoreInUseError"]  # fmt: skip
        if r.refused:
            seen.append(f"guard refused {r.refused:,} of {r.calls + r.refused:,} calls")
        table.add_row(r.config, str(r.trials), crash, when, str(r.raised), str(r.hung),
                      str(r.survived), "\n".join(seen) or "-")  # fmt: skip
    table.caption = (
        "to crash: median / max time from the threads' start to the abort; "
        "raised: the process lived and Python exceptions were seen"
    )
    return table


def guard_cost_table(rows: list[GuardCostRow]) -> Table:
    table = Table(title="Store guard cost per call (one thread, uncontended)")
    for col in ("call", "path", "mode", "unguarded", "guarded", "guard cost", "IQR", "share"):
        table.add_column(col, justify="left" if col in ("call", "path", "mode") else "right")
    for r in rows:
        table.add_row(
            r.scenario, r.call_path, r.mode, fmt_time(r.unguarded_ns * 1e-9),
            fmt_time(r.guarded_ns * 1e-9), f"{r.cost_ns:+.0f}ns",
            f"{r.cost_q1_ns:+.0f}..{r.cost_q3_ns:+.0f}", f"{r.share:+.1%}",
        )  # fmt: skip
    table.caption = (
        "medians per call; guard cost: median of paired differences between interleaved "
        "batches in one process; share: cost / unguarded call"
    )
    return table


_STATUS_STYLE = {"PASS": "green", "FAIL": "bold red", "XFAIL": "bold yellow",
                 "XPASS": "bold magenta"}  # fmt: skip


def verify_table(results: list[CheckResult]) -> Table:
    table = Table(title="gvlbench verify")
    for col in ("check", "mode", "result", "failed", "what was seen"):
        table.add_column(col, justify="right" if col == "failed" else "left",
                         overflow="fold" if col == "what was seen" else None)  # fmt: skip
    for r in results:
        style = _STATUS_STYLE[r.status]
        table.add_row(r.check, r.mode, f"[{style}]{r.status}[/{style}]",
                      f"{r.failed}/{r.repeat}", escape(r.detail[:160]))  # fmt: skip
    table.caption = "XFAIL: a known defect, still failing; XPASS: a known defect that passed"
    return table


def verify_notes(results: list[CheckResult]) -> list[str]:
    """The loud part: every finding with its rate and reproducer; every XPASS as a notice."""
    lines = []
    for r in results:
        where = f"{r.check} [{r.mode}] failed {r.failed}/{r.repeat} ({r.rate:.0%})"
        repro = f"\n    reproducer: python {r.reproducer}" if r.reproducer else ""
        if r.status == "FAIL":
            lines.append(f"[bold red]FINDING[/bold red] {escape(where)}: "
                         f"{escape(r.detail)}{repro}")  # fmt: skip
        elif r.status == "XFAIL":
            summary = " ".join(r.known.split())
            lines.append(f"[bold yellow]KNOWN DEFECT[/bold yellow] {escape(where)}: "
                         f"{escape(summary)}{repro}")  # fmt: skip
        elif r.status == "XPASS":
            lines.append(f"[bold magenta]NOTICE[/bold magenta] {r.check} [{r.mode}] is listed "
                         "as a known defect but passed: fixed upstream? Check with its "
                         "reproducer and remove it from known-defects.toml.")  # fmt: skip
    return lines


_VERDICT_STYLE = {
    "faster": "green",
    "slower": "red",
    "same": "dim",
    "unsure": "yellow",
    "missing": "yellow",
    "pass": "green",
    "fail": "bold red",
    "error": "bold red",
}


def _verdict(v: str) -> str:
    style = _VERDICT_STYLE.get(v, "")
    return f"[{style}]{v}[/{style}]" if style else v


def compare_table(rows: list[CompareRow], base: str, current: str) -> Table:
    table = Table(title=f"{base} -> {current}")
    for col in ("benchmark", "base", "current", "change", "verdict", "speedup", "effic."):
        table.add_column(col, justify="left" if col in ("benchmark", "verdict") else "right")
    for r in rows:
        change = "-" if r.change is None else f"{r.change:+.1%}"
        table.add_row(
            r.name,
            fmt_time(r.base_s),
            fmt_time(r.current_s),
            change,
            _verdict(r.verdict),
            f"{_num(r.base_speedup)} -> {_num(r.current_speedup)}",
            f"{_num(r.base_efficiency)} -> {_num(r.current_efficiency)}",
        )
    table.caption = "change: median wall time; verdict: Welch's t-test at 95% (unsure: < 3 values)"
    return table


def progress_compare_table(rows: list[ProgressCompareRow], base: str, current: str) -> Table:
    table = Table(title=f"Sibling progress: {base} -> {current}")
    for col in ("scenario", "mode", "base", "current"):
        table.add_column(col, justify="left" if col in ("scenario", "mode") else "right")
    for r in rows:
        table.add_row(r.scenario, r.mode, _num(r.base, "{:.3f}"), _num(r.current, "{:.3f}"))
    return table


def gate_table(rules: list[Rule]) -> Table:
    table = Table(title="gvlbench gate")
    for col in ("verdict", "rule", "row", "value", "limit", "note"):
        table.add_column(col, overflow="fold")
    for r in rules:
        table.add_row(_verdict(r.verdict), escape(r.rule), escape(r.row), escape(r.value),
                      escape(r.limit), escape(r.why))  # fmt: skip
    return table


def failure_lines(failures: list[dict[str, Any]]) -> list[str]:
    """One full line per failed measurement (the table cell is cut to fit), with stderr."""
    lines = []
    for f in failures:
        guard = ", guarded" if f.get("guard") else ""
        what = f"{f['scenario']} {f['kind']}, {f['mode']}, {f['threads']} thread(s){guard}"
        lines.append(f"[red]FAILED[/red] {escape(what)}: {escape(f['description'])}")
        lines += [f"    [dim]{escape(ln)}[/dim]" for ln in f.get("stderr_tail", [])[-3:]]
    return lines


def rows_json(rows: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(r) for r in rows]
