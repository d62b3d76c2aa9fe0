"""Rich tables and plain JSON views of results: render functions read, never measure or print."""

from __future__ import annotations

import dataclasses
from typing import Any

from rich.markup import escape
from rich.table import Table

from gvlbench.designs import GUARDS, LABELS
from gvlbench.modes import Mode
from gvlbench.report.calls import LEAN_OVER_RAW_MAX, STOCK_OVER_LEAN_MIN, CallRow, CallsVerdict
from gvlbench.report.compare import CompareRow, ProgressCompareRow
from gvlbench.report.gate import Rule
from gvlbench.report.guard_cost import GuardCost, GuardCostRow
from gvlbench.report.phases import PhasesRow, caption
from gvlbench.report.pool import PoolRow
from gvlbench.report.race import RaceRow
from gvlbench.report.stats import PatchCostRow, ProgressRow, SpeedupRow
from gvlbench.report.sweep import SweepRow, crossover, paths_in
from gvlbench.report.verify import CheckResult


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
    return status if status == "ok" else f"[red]{escape(status)}[/red]"


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


def _axes(rows: list[Any]) -> list[str]:
    """The optional leading columns a set of rows needs: runtime when any row ran under
    another interpreter (a Python, Ruby), path when the rows mix call paths."""
    axes = ["runtime"] if any(r.interpreter for r in rows) else []
    if len({getattr(r, "call_path", "") for r in rows}) > 1:
        axes.append("path")
    if any(getattr(r, "patches", "") for r in rows):
        axes.append("patch")
    return axes


def _axis_cells(row: Any, axes: list[str]) -> list[str]:
    cells = {"runtime": lambda: row.interpreter, "path": lambda: row.call_path,
             "patch": lambda: row.patches or "none"}  # fmt: skip
    return [cells[a]() for a in axes]


def _stores(store: str) -> str:
    """Whose Stores the threads use, as the results' metadata says: each its own (a
    scenario's), or as the user's code makes them (not known to gvlbench)."""
    if store in ("", "per-thread"):
        return "each owns its Store"
    return f"Stores: {store}"


def speedup_table(rows: list[SpeedupRow], cpus: int, store: str = "") -> Table:
    scenarios = {r.scenario for r in rows}
    failed = any(r.status != "ok" for r in rows)
    axes = _axes(rows)
    table = _table(
        "Parallel speedup",
        [
            *axes,
            "mode",
            "threads",
            "wall",
            "±MAD",
            "n",
            "calls/s",
            "speedup",
            "95% CI",
            "effic.",
            "best",
            "status",
        ],
        {*axes, "mode", "status", "95% CI"},
        scenarios,
        failed,
    )
    for r in rows:
        cells = [
            *_axis_cells(r, axes),
            r.mode,
            str(r.threads),
            fmt_time(r.wall_median_s),
            fmt_time(r.wall_mad_s),
            str(r.values or "-"),
            _num(r.calls_per_s, "{:,.1f}"),
            *_speedup_cells(r),
        ] + ([_status(r.status)] if failed else [])
        table.add_row(*([escape(r.scenario)] if len(scenarios) > 1 else []), *cells)
    table.caption = (
        f"wall: median time for every thread to make one call ({_stores(store)}); "
        f"rounds time every cell in turn; speedup: throughput vs 1 thread, same mode, the "
        f"median of the per-round ratios with its 95% interval; effic.: speedup / "
        f"min(threads, {cpus} cores); best: the ratio of each cell's fastest round"
        + "".join(f"\n{n}" for n in speedup_notes(rows, cpus))
    )
    return table


def _speedup_cells(r: SpeedupRow) -> list[str]:
    """speedup, 95% CI, efficiency; a physically impossible speedup is never a number."""
    if r.flag == "impossible":
        return ["[red]error[/red]", f"[red]{_num(r.ci_low)}-{_num(r.ci_high)}[/red]", "-",
                _num(r.best)]  # fmt: skip
    ci = f"{_num(r.ci_low)}-{_num(r.ci_high)}" if r.ci_low is not None else "-"
    if r.flag == "noisy":
        ci = f"[yellow]{ci}[/yellow]"
    return [_num(r.speedup), ci, _num(r.efficiency), _num(r.best)]


def speedup_notes(rows: list[SpeedupRow], cpus: int) -> list[str]:
    """What the intervals say about the run: impossible speedups, and too much noise."""
    from gvlbench.report.paired import PRECISION

    notes = []
    for r in rows:
        if r.flag == "impossible":
            notes.append(
                f"measurement error: {r.mode} at {r.threads} threads reads "
                f"{_num(r.ci_low)}-{_num(r.ci_high)}, above the {min(r.threads, cpus)} cores "
                "can give; something else ran (check `ps` for stray workers) - rerun"
            )
    apart = [r for r in rows if r.best and r.speedup and abs(r.best / r.speedup - 1) > 0.1]
    if apart:
        worst = max(apart, key=lambda r: abs(r.best / r.speedup - 1))  # type: ignore[operator]
        notes.append(
            f"the cores' speed changed during the run: {worst.mode} at {worst.threads} threads "
            f"reads {_num(worst.speedup)} by its median round, {_num(worst.best)} by its "
            "fastest (another tenant of the host slows one core at a time)"
        )
    noisy = [r for r in rows if r.flag == "noisy"]
    if noisy:
        worst = max(noisy, key=lambda r: (r.ci_high or 0) - (r.ci_low or 0))
        notes.append(
            f"too noisy for ±{PRECISION:.0%}: {worst.mode} at {worst.threads} threads spans "
            f"{_num(worst.ci_low)}-{_num(worst.ci_high)} over {worst.rounds} rounds; "
            "--rigorous runs more rounds"
        )
    return notes


def patch_cost_table(rows: list[PatchCostRow]) -> Table:
    table = _table("What the patch costs", ["patch", "mode", "threads", "unpatched", "patched",
                   "ratio"], {"patch", "mode"}, {r.scenario for r in rows}, False)  # fmt: skip
    for r in rows:
        cells = [escape(r.patches), r.mode, str(r.threads), fmt_time(r.plain_s),
                 fmt_time(r.patched_s), f"{r.ratio:.3f}"]  # fmt: skip
        table.add_row(*([escape(r.scenario)] if len(table.columns) > 6 else []), *cells)
    table.caption = "ratio: patched wall time / unpatched, same mode and threads, one run"
    return table


def progress_table(rows: list[ProgressRow]) -> Table:
    scenarios = {r.scenario for r in rows}
    failed = any(r.status != "ok" for r in rows)
    axes = _axes(rows)
    table = _table(
        "Sibling progress during the call",
        [
            *axes,
            "mode",
            "measured",
            "median",
            "95% CI",
            "min",
            "max",
            "call",
            "n",
            "overlap",
            "status",
        ],
        {*axes, "mode", "measured", "status", "95% CI"},
        scenarios,
        failed,
    )
    for r in rows:
        cells = [
            *_axis_cells(r, axes),
            r.mode,
            r.via,
            _num(r.ratio_median, "{:.3f}"),
            "-" if r.ratio_ci_low is None else f"{r.ratio_ci_low:.3f}-{r.ratio_ci_high:.3f}",
            _num(r.ratio_min, "{:.3f}"),
            _num(r.ratio_max, "{:.3f}"),
            fmt_time(r.call_median_s),
            str(r.samples or "-"),
            "-" if r.overlap_median is None else f"{r.overlap_median:.2f} @{r.overlap_threads}",
        ] + ([_status(r.status)] if failed else [])
        table.add_row(*([escape(r.scenario)] if len(scenarios) > 1 else []), *cells)
    table.caption = (
        "a sibling thread's (pure Python or Ruby) counting rate during the call / its rate alone, "
        "measured just before each call (the interval: of the median over those pairs): "
        "1.0 = unhindered, 0 = stopped for the whole call; overlap @N: N threads calling at "
        "once, how much their calls' CPU time overlapped (1 = all at once, 0 = serialised)"
    )
    return table


def race_table(rows: list[RaceRow], threads: int, duration_s: float | None) -> Table:
    within = f", each up to {duration_s:g} s" if duration_s else ""
    table = Table(title=f"Store race: {threads} threads calling in a loop{within}")
    # a code target compares every result; a scenario's own check (a component's echo) can
    # find wrong trials too, and then the column must be there for the trials to add up
    code = any(r.compared is not None or r.wrong for r in rows)
    cols = ("store, mode", "trials", "crashed", "to crash", "raised", *(("wrong",) if code else ()),
            "hung", "lived")  # fmt: skip
    for col in cols:
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
        if r.intruder_ops is not None:  # an entry race: did the other threads ever get in?
            seen.append(f"the intruders' operations done: {r.intruder_ops:,}")
        if r.wrong_results:
            seen.append(f"{r.wrong_results:,} wrong results, e.g. {escape(r.wrong_example or '')}")
        if r.compared is False:
            seen.append("results not compared (None, or a type with no ==)")
        wrong = (f"[red]{r.wrong}[/red]" if r.wrong else "0",) if code else ()
        table.add_row(escape(r.config), str(r.trials), crash, when, str(r.raised), *wrong,
                      str(r.hung), str(r.survived), "\n".join(seen) or "-")  # fmt: skip
    table.caption = (
        "to crash: median / max time from the threads' start to the abort; "
        "raised: the process lived and exceptions were seen"
        + (
            "; wrong: a thread's result differed from what its call gave alone, before the race"
            if code
            else ""
        )
    )
    return table


def guard_cost_table(rows: list[GuardCostRow]) -> Table:
    """Each design's cost beside the others', with its share of the unguarded operation."""
    kinds = [k for k in GUARDS if any(r.guard(k) for r in rows)]
    table = Table(title="Store guard cost per operation (one thread, uncontended)")
    for col in ("entry point", "path", "mode", "unguarded"):
        table.add_column(col, justify="left" if col != "unguarded" else "right")
    for kind in kinds:
        table.add_column(f"{LABELS.get(kind, kind)}\n\\[IQR] share", justify="right",
                         overflow="fold")  # fmt: skip
    for r in rows:
        name = f"call {r.scenario}" if r.entry == "call" else r.scenario
        cells = [escape(name), r.call_path, r.mode, fmt_time(r.unguarded_ns * 1e-9)]
        cells += [_guard_cell(r.guard(kind)) for kind in kinds]
        table.add_row(*cells)
    table.caption = (
        "medians per operation; each design: the median of paired differences between "
        "interleaved batches of the unguarded and the guarded operation (in each child; a "
        "row's children pooled), \\[their IQR], and that cost's share of the unguarded "
        "operation. Python/Ruby guard: "
        "a non-blocking re-entrant lock in the worker's language; owner word: one "
        "compare-and-swap in C; thread affinity: the owner fixed at creation, one compare; "
        "mutex: a recursive pthread mutex"
    )
    return table


def _guard_cell(cost: GuardCost | None) -> str:
    if cost is None:
        return "-"
    if cost.unavailable:
        return escape(cost.unavailable)
    return (f"{cost.cost_ns:+.0f}ns \\[{cost.cost_q1_ns:+.0f}..{cost.cost_q3_ns:+.0f}] "
            f"{cost.share:+.1%}")  # fmt: skip


_STATUS_STYLE = {"PASS": "green", "FAIL": "bold red", "XFAIL": "bold yellow",
                 "XPASS": "bold magenta", "FIXED": "bold green", "N/A": "dim"}  # fmt: skip


def verify_table(results: list[CheckResult]) -> Table:
    table = Table(title="gvlbench verify")
    runtimes = any(r.interpreter for r in results)
    for col in ("runtime", "check", "mode", "result", "failed", "what was seen"):
        if col == "runtime" and not runtimes:
            continue
        table.add_column(col, justify="right" if col == "failed" else "left",
                         overflow="fold" if col == "what was seen" else None)  # fmt: skip
    for r in results:
        style = _STATUS_STYLE[r.status]
        table.add_row(*([escape(r.interpreter)] if runtimes else []), escape(r.check), r.mode,
                      f"[{style}]{r.status}[/{style}]", f"{r.failed}/{r.repeat}",
                      escape(r.detail[:160]))  # fmt: skip
    table.caption = ("XFAIL: a known defect, still failing; XPASS: a known defect that passed; "
                     "FIXED: a known defect that passed under a --patch")  # fmt: skip
    if any(r.status == "N/A" for r in results):
        table.caption += "; N/A: nothing to judge in this mode"
    return table


def verify_notes(results: list[CheckResult]) -> list[str]:
    """The loud part: every finding with its rate and reproducer; every XPASS as a notice."""
    lines = []
    for r in results:
        who = f"{r.interpreter} " if r.interpreter else ""
        where = f"{who}{r.check} [{r.mode}] failed {r.failed}/{r.repeat} ({r.rate:.0%})"
        repro = f"\n    reproducer: python {r.reproducer}" if r.reproducer else ""
        if r.status == "FAIL":
            lines.append(f"[bold red]FINDING[/bold red] {escape(where)}: "
                         f"{escape(r.detail)}{repro}")  # fmt: skip
        elif r.status == "XFAIL":
            summary = " ".join(r.known.split())
            lines.append(f"[bold yellow]KNOWN DEFECT[/bold yellow] {escape(where)}: "
                         f"{escape(summary)}{repro}")  # fmt: skip
        elif r.status == "XPASS":
            named = escape(f"{r.check} [{r.mode}]")
            lines.append(f"[bold magenta]NOTICE[/bold magenta] {named} is listed "
                         "as a known defect but passed: fixed upstream? Check with its "
                         "reproducer and remove it from known-defects.toml.")  # fmt: skip
        elif r.status == "FIXED":
            named, known = escape(f"{r.check} [{r.mode}]"), escape(" ".join(r.known.split()))
            lines.append(f"[bold green]FIXED[/bold green] {named}, a known defect, passed with "
                         f"--patch {escape(r.fixed_by)}: {known}")  # fmt: skip
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
            escape(r.name),
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
    axes = _axes(rows)
    for col in ("scenario", *axes, "mode", "base", "current"):
        table.add_column(col, justify="right" if col in ("base", "current") else "left")
    for r in rows:
        table.add_row(escape(r.scenario), *_axis_cells(r, axes), r.mode, _num(r.base, "{:.3f}"),
                      _num(r.current, "{:.3f}"))  # fmt: skip
    return table


def gate_table(rules: list[Rule]) -> Table:
    table = Table(title="gvlbench gate")
    for col in ("verdict", "rule", "row", "value", "limit", "note"):
        table.add_column(col, overflow="fold")
    for r in rules:
        table.add_row(_verdict(r.verdict), escape(r.rule), escape(r.row), escape(r.value),
                      escape(r.limit), escape(r.why))  # fmt: skip
    return table


def misrouted_lines(rows: list[ProgressRow]) -> list[str]:
    """A scenario that expects an exception: how many checked calls met wasmtime-py's known
    defect exceptions-concurrent (another thread's exception, or none), flagged as verify
    flags a known defect."""
    return [
        f"[bold yellow]KNOWN DEFECT[/bold yellow] {escape(f'{r.scenario} [{r.mode}]')}: "
        f"{r.misrouted} of {r.checked_calls} calls got another thread's exception or lost "
        "their own (exceptions-concurrent, known-defects.toml)"
        for r in rows
        if r.misrouted
    ]


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


def _call_cell(r: CallRow | None, attr: str) -> str:
    if r is None:
        return "-"
    if r.status != "ok":
        return _status(r.status)
    value = getattr(r, attr)
    return fmt_time(value) if attr.endswith("_s") else _num(value)


def calls_table(rows: list[CallRow], verdict: CallsVerdict) -> Table:
    """One row per (scenario, path): each mode measured side by side, with the ratios; and,
    where a team of threads was timed, its per-call time and scaling per parallel mode."""
    present = [m for m in Mode if any(r.mode == m for r in rows)]
    team = max((r.team for r in rows), default=1)
    parallel = [m for m in present if m.parallel] if team > 1 else []
    title = "Per-call cost by call path (one thread" + (
        f"; and {team} threads at once, each on its own Store)" if team > 1 else ")"
    )
    table = Table(title=title)
    cols = ["call", "path"]
    for m in present:
        cols += [str(m), "±MAD"]
    both = Mode.HELD in present and Mode.RELEASED in present
    cols += ["released/held"] * both + ["÷ raw", "÷ lean"]
    for m in parallel:
        cols += [f"{m} x{team}", f"scaling ({m})"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("call", "path") else "right")
    by_key = {(r.scenario, r.path, r.mode): r for r in rows}
    for scen, path in dict.fromkeys((r.scenario, r.path) for r in rows):
        mine = {m: by_key.get((scen, path, str(m))) for m in present}
        cells = [escape(scen), path]
        for m in present:
            cells += [_call_cell(mine[m], "median_s"), _call_cell(mine[m], "mad_s")]
        if both:
            cells.append(_call_cell(mine[Mode.RELEASED], "over_held"))
        cells.append(" / ".join(_call_cell(mine[m], "over_raw") for m in present))
        cells.append(" / ".join(_call_cell(mine[m], "over_lean") for m in present))
        for m in parallel:
            cells += [_call_cell(mine[m], "team_s"), _call_cell(mine[m], "scaling")]
        table.add_row(*cells)
    lean_ok = "[green]yes[/green]" if verdict.lean_ok else "[red]no[/red]"
    stock_ok = "[green]yes[/green]" if verdict.stock_ok else "[red]no[/red]"
    order = " / ".join(map(str, present))
    scaling = (
        f"; x{team}: per call of each of {team} threads calling at once; scaling: median of "
        f"per-round {team} x t(1) / t({team}), {team} = all in parallel, 1 = serialised"
        if parallel else ""
    )  # fmt: skip
    table.caption = (
        f"median per call over interleaved ~10 ms batches; ÷ raw, ÷ lean: median of per-round "
        f"ratios (both sides timed in the same round), {order}"
        + ("; released/held: the same per-round pairing" if both else "")
        + f"{scaling}. lean within {LEAN_OVER_RAW_MAX}x of raw: {lean_ok} "
        f"(worst {_num(verdict.lean_over_raw)}x); "
        f"Func.__call__ at least {STOCK_OVER_LEAN_MIN:g}x lean: {stock_ok} "
        f"(least {_num(verdict.stock_over_lean, '{:.1f}')}x)"
    )
    return table


def sweep_table(rows: list[SweepRow], threads: int) -> Table:
    free = any(r.mode == Mode.FREE_THREADED for r in rows)
    if free:  # no GIL: the question is how the work scales with threads
        title = f"Where threads pay without a GIL: {threads} threads vs one, free-threaded"
        serial, parallel = f"1 thread x{threads}", f"{threads} threads"
    else:
        title = f"Where releasing the lock pays: {threads} threads, released vs held"
        serial, parallel = "held", "released"
    table = Table(title=title)
    for col in ("path", "work (iters)", "Wasm/call", serial, parallel, "gain", "t-test", "pays"):
        table.add_column(col, justify="left" if col in ("path", "t-test", "pays") else "right")
    for path in paths_in(rows):
        cross = crossover(rows, path)
        for r in (r for r in rows if r.path == path):
            mark = "[bold green]yes ◀ crossover[/bold green]" if r is cross else (
                "yes" if r.pays else "no")  # fmt: skip
            table.add_row(path, f"{r.size:,}", fmt_time(r.wasm_s), fmt_time(r.serial_s),
                          fmt_time(r.parallel_s), _num(r.gain), r.verdict, mark)  # fmt: skip
        table.add_section()
    if free:
        table.caption = (
            f"{threads} threads: median wall for every thread to make one call; 1 thread "
            f"x{threads}: one thread's wall per call times {threads}, the serial cost of the "
            f"same calls; gain: median of per-round {threads} x t(1) / t({threads}) (the two "
            "alternate round by round in one process), at most "
            f"{threads}; t-test: 95% on the log ratios; pays: significantly faster by the "
            "minimum gain; Wasm/call: one lean call alone at this size"
        )
        return table
    table.caption = (
        "held, released: median wall for every thread to make one call; gain: median of "
        "per-round held / released (the modes alternate round by round in one process); "
        "t-test: 95% on the log ratios; pays: significantly faster by the minimum gain; "
        "Wasm/call: one lean call alone at this size"
    )
    return table


def crossover_lines(rows: list[SweepRow]) -> list[str]:
    lines = []
    for path in paths_in(rows):
        cross = crossover(rows, path)
        free = any(r.mode == Mode.FREE_THREADED for r in rows if r.path == path)
        if cross is None:
            what = "threads" if free else "releasing the lock"
            lines.append(f"{path}: {what} never paid at the sizes measured")
        else:
            what = "threads pay" if free else "releasing pays"
            lines.append(
                f"{path}: {what} from {cross.size:,} iterations "
                f"(~{fmt_time(cross.wasm_s)} of Wasm per call), gain {cross.gain:.2f}"
            )
    return lines


def pool_table(rows: list[PoolRow]) -> Table:
    scenarios = {r.scenario for r in rows}
    failed = any(r.status != "ok" for r in rows)
    axes = ["runtime"] if any(r.interpreter for r in rows) else []
    table = _table(
        "Threads (GIL released) vs a process pool, start-up included",
        [*axes, "executor", "workers", "wall", "min", "max", "calls/s", "speedup", "peak RSS",
         "status"],
        {*axes, "executor", "status"},
        scenarios,
        failed,
    )  # fmt: skip
    for r in rows:
        cells = [*([r.interpreter] if axes else []), r.executor, str(r.workers),
                 fmt_time(r.wall_median_s), fmt_time(r.wall_min_s), fmt_time(r.wall_max_s),
                 _num(r.calls_per_s, "{:,.1f}"), _num(r.speedup),
                 _num(r.peak_rss_mib, "{:,.0f} MiB")]  # fmt: skip
        cells += [_status(r.status)] if failed else []
        table.add_row(*([escape(r.scenario)] if len(scenarios) > 1 else []), *cells)
    table.caption = (
        "the same total calls split over the workers, timed from nothing to done (threads: "
        "Stores and threads created; processes: spawn, import, compile); speedup vs 1 thread; "
        "peak RSS: summed over every process involved"
    )
    return table


def phases_table(rows: list[PhasesRow]) -> Table:
    """Compile, instantiate and call apart, per mode and thread count (see report/phases.py)."""
    scenarios = {r.scenario for r in rows}
    failed = any(r.status != "ok" for r in rows)
    axes = _axes(rows)
    table = _table(
        "Phases per thread: compile, instantiate, call",
        [*axes, "mode", "threads", "compile", "instantiate", "call", "n", "status"],
        {*axes, "mode", "status"},
        scenarios,
        failed,
    )
    for r in rows:
        phases = [(r.compile_s, r.compile_share), (r.instantiate_s, r.instantiate_share),
                  (r.call_s, r.call_share)]  # fmt: skip
        cells = [*_axis_cells(r, axes), r.mode, str(r.threads),
                 *(fmt_time(t) + ("" if share is None else f" ({share:.1%})")
                   for t, share in phases), str(r.samples or "-")]  # fmt: skip
        cells += [_status(r.status)] if failed else []
        table.add_row(*([escape(r.scenario)] if len(scenarios) > 1 else []), *cells)
    table.caption = caption(rows)
    return table
