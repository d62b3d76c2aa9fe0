"""`gvlbench trace`'s report in reading order: how the program ended and what was watched, the
tables (tables.py), each finding's fix and the race command that reproduces it, what the hooks
cost, and the verdict (verdict.py). Lines are rich markup; only the CLI prints. Drawn from the
results rows alone, so `gvlbench show` draws it again from a file.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape

from gvlbench.report.render import fmt_time
from gvlbench.trace import tables
from gvlbench.trace.hazards import HAZARDS
from gvlbench.trace.tables import where
from gvlbench.trace.verdict import Rows, not_patched, of, summary_of, unwatched, verdict

REASONS_SHOWN = 4  # pytest-run-parallel's reasons for a test in one thread, the commonest


def program_lines(rows: Rows) -> list[str]:
    lines = []
    for p in of(rows, "program"):
        style = "red" if p["signal"] else "green" if p["returncode"] == 0 else "yellow"
        lines.append(f"program: [bold]{escape(' '.join(p['argv']))}[/bold] "
                     f"[{style}]{escape(p['description'])}[/{style}]")  # fmt: skip
    procs = of(rows, "process")
    if procs:
        pythons = sorted({f"python{p['python']}{'t' if p['gil'] == 'disabled' else ''}"
                          for p in procs})  # fmt: skip
        lines.append(f"{len(procs)} Python process(es) ({', '.join(pythons)}), "
                     f"{_watched_line(procs)}")  # fmt: skip
    for p in procs:
        for error in p["hook_errors"]:
            lines.append(f"[yellow]hook error in pid {p['pid']}: {escape(error)}[/yellow]")
    return lines


def _watched_line(procs: Rows) -> str:
    watching = [p for p in procs if p.get("watching")]
    if not watching:
        return "none watched anything"
    classes = sorted({tables.cls_name(c) for p in watching for c in p["watching"]})
    versions = sorted({p["wasmtime"] for p in watching if p["wasmtime"]})
    patched = sorted({n for p in procs for n, why in (p.get("patches") or {}).items() if not why})
    parts = [f"{len(watching)} watched {', '.join(classes)}"]
    if versions:
        parts.append(f"wasmtime-py {', '.join(versions)}; on overlap: "
                     f"{next(p['on_overlap'] for p in watching if p['on_overlap'])}")  # fmt: skip
    if patched:
        parts.append(f"under --patch {', '.join(patched)}")
    return escape("; ".join(parts))


def parallel_lines(rows: Rows) -> list[str]:
    """pytest-run-parallel's account: how many tests ran in N threads, how many in one, and
    why (the plugin's reasons), so "no overlap" is read against what ran in threads."""
    lines = []
    for r in of(rows, "pytest"):
        threads = "/".join(map(str, r["threads"])) or "N"
        line = (f"pytest-run-parallel (pid {r['pid']}): {r['parallel']} test(s) ran in "
                f"{threads} threads, {r['one_thread']} "
                f"{'were skipped' if r['skipped'] else 'in one thread only'}")  # fmt: skip
        reasons = list(r["reasons"].items())
        if reasons:
            shown = "; ".join(f"{n} {why}" for why, n in reasons[:REASONS_SHOWN])
            more = (
                f"; {len(reasons) - REASONS_SHOWN} other reason(s)"
                if len(reasons) > REASONS_SHOWN
                else ""
            )
            line += f" (the plugin's reasons: {shown}{more})"
        lines.append(escape(line))
    return lines


def library_lines(rows: Rows) -> list[str]:
    """Engines the program ran whose objects trace did not watch: which library, which engine."""
    lines = []
    for r in unwatched(rows):
        version = f" {r['version']}" if r["version"] else ""
        lines.append(
            f"[yellow]not watched: {escape(r['path'])} carries {escape(r['engine'] + version)} "
            f"(pids {', '.join(map(str, r['pids']))}), and no binding of gvlbench's declares "
            "its objects: name its class with --watch module:Class.method[,method] to watch "
            "them[/yellow]"
        )
    for missing in not_patched(rows):
        lines.append(f"[yellow]--patch not applied: {escape(missing)}[/yellow]")
    return lines


def finding_lines(rows: Rows) -> list[str]:
    """Each finding's fix, and the `gvlbench race` command that reproduces it."""
    lines = []
    patched = {n for p in of(rows, "process") for n, why in (p.get("patches") or {}).items()
               if not why}  # fmt: skip
    for f in of(rows, "finding"):
        hazard = HAZARDS[f["hazard"]]
        fix = f"fix {escape(where(f['site']))}: {escape(hazard.fix)}"
        if f["patch"] and f["patch"] not in patched:
            fix += (f"; gvlbench's patch for it: [bold]gvlbench trace --patch {f['patch']} -- "
                    "COMMAND[/bold]")  # fmt: skip
        lines.append(fix)
        lines += race_lines(f)
    return lines


def race_lines(f: dict[str, Any]) -> list[str]:
    race = f["race"]
    if not race:
        return []
    if race["ready"]:
        state = f"[green]ready to run[/green] ({escape(race['checked'])})"
    elif race["todo"]:
        state = f"[yellow]a template[/yellow]: fill in {escape('; '.join(race['todo']))}"
    elif race["checked"]:
        state = f"[yellow]not ready[/yellow]: {escape(race['checked'])}"
    else:
        state = "[yellow]not checked[/yellow] (only the first few are, and not after Ctrl-C)"
    return [f"  reproduce it, {state}:", f"    {escape(race['command'])}"]


def overhead_line(rows: Rows) -> str:
    """What the hooks cost the program: the fast path per entry times the entries, plus the
    rest of their work as timed in the program, and apart, the waits they imposed."""
    summary = summary_of(rows)
    costs = [p["overhead"] for p in of(rows, "process") if p["overhead"]]
    entries = summary.get("entries", 0)
    waited = summary.get("waited_s", 0.0)
    waits = (f"; waiting for other threads' entries and package calls: {fmt_time(waited)} "
             "(the program's own calls, serialised: not counted above)")  # fmt: skip
    waits = waits if waited else ""
    if not costs:
        if not entries:
            return "hooks: no watched object was entered"
        return f"hooks: {entries:,} entries; their cost was not measured (no process that " \
               f"used wasmtime reached its normal exit){waits}"  # fmt: skip
    c = costs[0]
    program = of(rows, "program")
    wall = program[0]["duration_s"] if program else 0.0
    share = f", {summary['hook_s'] / wall:.1%} of the program's {wall:.1f} s" if wall else ""
    slow = sum(p["slow_ns"] for p in costs) / 1e9
    at_exit = sum(p["exit_ns"] for p in costs) / 1e9
    return (f"hooks: about {fmt_time(summary['hook_s'])}{share}: {entries:,} entries at "
            f"{fmt_time(c['per_entry_ns'] / 1e9)} each on the fast path ({c['operation']} "
            f"hooked {fmt_time(c['hooked_ns'] / 1e9)} vs plain {fmt_time(c['plain_ns'] / 1e9)}, "
            f"median of {c['rounds']} interleaved rounds at exit), {fmt_time(slow)} timed in "
            f"the rest of their work (stacks, records, hashes) and {fmt_time(at_exit)} at "
            f"exit{waits}")  # fmt: skip


def status_line(tally: dict[str, int], command: str) -> str:
    overlaps, handoffs = tally.get("overlaps", 0), tally.get("handoffs", 0)
    style = "red" if overlaps or handoffs else "default"
    return (f"tracing {escape(command)}: {tally.get('processes', 0)} process(es), "
            f"{tally.get('objects', 0)} object(s), {tally.get('entries', 0):,} entries, "
            f"[{style}]{overlaps} overlap(s), {handoffs} exception "
            f"hand-off(s)[/{style}]")  # fmt: skip


def report(rows: Rows) -> list[RenderableType | str]:
    """Everything, in reading order; a note said once is not said again."""
    notes: set[str] = set()
    parts: list[RenderableType | str] = [*program_lines(rows), *parallel_lines(rows)]
    if of(rows, "site"):
        parts += [tables.sites_table(rows), tables.objects_table(rows)]
    parts += [*tables.finding_tables(rows, notes), *tables.meeting_tables(rows)]
    parts += [t for t in (tables.compile_table(rows), tables.engine_table(rows)) if t is not None]
    parts += [*library_lines(rows), *finding_lines(rows), overhead_line(rows), verdict(rows)[1]]
    return parts


def group(rows: Rows) -> Group:
    return Group(*report(rows))
