"""Rich tables and plain JSON views of results: render functions read, never measure or print."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.markup import escape
from rich.table import Table

from gvlbench.stats import ProgressRow, SpeedupRow


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
        ["mode", "measured", "median", "min", "max", "call", "n", "status"],
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
        ] + ([_status(r.status)] if failed else [])
        table.add_row(*([r.scenario] if len(scenarios) > 1 else []), *cells)
    table.caption = (
        "a pure-Python thread's counting rate during the call / its rate alone: "
        "1.0 = unhindered, 0 = stopped for the whole call"
    )
    return table


def failure_lines(failures: list[dict[str, Any]]) -> list[str]:
    """One full line per failed measurement (the table cell is cut to fit), with stderr."""
    lines = []
    for f in failures:
        what = f"{f['scenario']} {f['kind']}, {f['mode']}, {f['threads']} thread(s)"
        lines.append(f"[red]FAILED[/red] {escape(what)}: {escape(f['description'])}")
        lines += [f"    [dim]{escape(ln)}[/dim]" for ln in f.get("stderr_tail", [])[-3:]]
    return lines


def rows_json(rows: list[Any]) -> list[dict[str, Any]]:
    return [dataclasses.asdict(r) for r in rows]
