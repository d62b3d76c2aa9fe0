"""`gvlbench trace`'s report, drawn from the results file's `trace` rows alone.

Per creation site and per Store, then, for each Store whose calls overlapped, both threads'
stacks at that moment; then compiles and Engines made again and again, the race commands that
reproduce each unsafe site, what the hooks cost, and the verdict. Functions return rich
renderables or lines; only the CLI prints.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from gvlbench.report.render import fmt_time
from gvlbench.trace.model import PATTERNS

Rows = list[dict[str, Any]]
STORES_SHOWN = 12


def of(rows: Rows, kind: str) -> Rows:
    return [r for r in rows if r.get("kind") == kind]


def summary_of(rows: Rows) -> dict[str, Any]:
    found = of(rows, "summary")
    return found[0] if found else {}


def short(path: str) -> str:
    """A path as a reader knows it: inside site-packages from the package down, under the
    working directory relative to it."""
    parts = path.split(os.sep)
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(marker) :])
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return path if rel.startswith("..") else rel


def where(key: str) -> str:
    """`shared.py:14` from a site key `/abs/shared.py:14`."""
    path, _, line = key.rpartition(":")
    return f"{short(path)}:{line}" if path else key


def frame_text(frame: list[Any]) -> str:
    return f"{short(frame[0])}:{frame[1]} in {frame[2]}"


def stack_lines(stack: list[list[Any]], keep: int = 6) -> list[str]:
    """The program's own frames (the last `keep`), then the package's first and last frame
    below them: the call into the package and the line that called wasmtime."""
    last_user = max((i for i, f in enumerate(stack) if f[3] == "user"), default=-1)
    lines = [frame_text(f) for f in stack[: last_user + 1] if f[3] == "user"][-keep:]
    below = stack[last_user + 1 :]
    if below:
        lines.append(f"[dim]-> {escape(frame_text(below[0]))}[/dim]")
        if len(below) > 1:
            lines.append(f"[dim]   ... {escape(frame_text(below[-1]))}[/dim]")
    return lines or ["(no Python frame of the program)"]


def program_lines(rows: Rows) -> list[str]:
    lines = []
    for p in of(rows, "program"):
        style = "red" if p["signal"] else "green" if p["returncode"] == 0 else "yellow"
        lines.append(f"program: [bold]{escape(' '.join(p['argv']))}[/bold] "
                     f"[{style}]{escape(p['description'])}[/{style}]")  # fmt: skip
    procs = of(rows, "process")
    with_wasmtime = [p for p in procs if p["wasmtime"]]
    if procs:
        pythons = sorted({f"python{p['python']}{'t' if p['gil'] == 'disabled' else ''}"
                          for p in procs})  # fmt: skip
        versions = sorted({p["wasmtime"] for p in with_wasmtime})
        used = (
            f"{len(with_wasmtime)} used wasmtime {', '.join(versions)}; on overlap: "
            f"{with_wasmtime[0]['on_overlap']}"
            if with_wasmtime
            else "none used wasmtime"
        )
        lines.append(f"{len(procs)} Python process(es) ({', '.join(pythons)}), {used}")
    for p in procs:
        for error in p["hook_errors"]:
            lines.append(f"[yellow]hook error in pid {p['pid']}: {escape(error)}[/yellow]")
    return lines


def sites_table(rows: Rows) -> Table:
    t = Table(title="Stores by creation site")
    for col in ("made at", "Stores", "threads", "entries", "overlaps", "pattern"):
        t.add_column(col, justify="left" if col in ("made at", "pattern") else "right")
    for s in of(rows, "site"):
        style = "red" if s["unsafe"] else ""
        others = {k: v for k, v in s["patterns"].items() if k != s["pattern"]}
        pattern = f"{s['pattern']}: {PATTERNS[s['pattern']]}"
        if others:
            pattern += " (also " + ", ".join(f"{v} {k}" for k, v in others.items()) + ")"
        t.add_row(escape(where(s["site"])), str(s["stores"]), str(s["threads"]),
                  f"{s['entries']:,}", str(s["overlaps"]), escape(pattern),
                  style=style)  # fmt: skip
    return t


def stores_table(rows: Rows) -> Table:
    stores = of(rows, "store")
    omitted = summary_of(rows).get("store_rows_omitted", 0) + max(0, len(stores) - STORES_SHOWN)
    more = f"{omitted} more Stores, and every thread of each, in the JSON results" if omitted \
        else "every thread of each Store, and its entries, in the JSON results"  # fmt: skip
    t = Table(title="Stores", caption=more)
    for col in ("Store", "made at", "pattern", "threads", "entries", "overlaps", "waited",
                "ended"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("Store", "made at", "pattern", "ended")
                     else "right")  # fmt: skip
    for s in stores[:STORES_SHOWN]:
        t.add_row(f"{s['pid']}/{s['store']}", escape(where(s["site"])), s["pattern"],
                  str(len(s["threads"])), f"{s['entries']:,}", str(s["overlaps"]),
                  _waited(s), s["ended"],
                  style="red" if s["unsafe"] else "")  # fmt: skip
    return t


def _waited(store: dict[str, Any]) -> str:
    """Its threads' waits for another's entry or package call, in all."""
    waited = store["waited_s"] + store.get("call_waited_s", 0.0)
    return fmt_time(waited) if waited else "-"


def overlap_tables(rows: Rows, per_store: int = 1) -> list[Table]:
    """For each Store whose calls overlapped: both threads' stacks at the moment."""
    tables = []
    for s in (r for r in of(rows, "store") if r["unsafe"]):
        examples = sorted(s["examples"], key=lambda e: not e["owner_stack"])
        for e in examples[:per_store]:
            t = Table(title=f"Store {s['pid']}/{s['store']} ({escape(where(s['site']))}): "
                      f"{s['overlaps']} overlap(s); the first seen at these lines",
                      title_style="bold red")  # fmt: skip
            t.add_column(escape(f"{e['name']} entering {e['operation']}"))
            t.add_column(escape(f"{e['owner_name']}, inside {e['owner_operation']}"))
            mine, theirs = stack_lines(e["stack"]), stack_lines(e["owner_stack"])
            for i in range(max(len(mine), len(theirs))):
                t.add_row(*(_at(lines, i) for lines in (mine, theirs)))
            holders = ", ".join(e["holders"]) or "none found"
            t.caption = f"names holding the Store on the entering line: {escape(holders)}"
            if s["meetings"]:
                t.caption += (f"; {s['meetings']} arrival(s) while another thread was inside a "
                              "package call on it")  # fmt: skip
            if s["stalls"]:  # the wait itself may have stalled the program: say so
                t.caption += "; " + escape("; ".join(s["stalls"][:3]))
            tables.append(t)
    return tables


def call_tables(rows: Rows, stores: int = 3) -> list[Table]:
    """For the first few Stores never shared with overlap where a thread arrived while
    another was inside a package call on it (a meeting, not an overlap): both stacks; and
    whether a call interleaved."""
    tables = []
    met = [r for r in of(rows, "store") if not r["unsafe"] and (r["meetings"] or r["interleaves"])]
    for s in met:
        e = (s["meeting_examples"] or [None])[0]
        if e is None or len(tables) >= stores:
            continue
        call = f"{short(e['call'][0])}:{e['call'][1]} {e['call'][2]}"
        title = (f"Store {s['pid']}/{s['store']} ({escape(where(s['site']))}): {s['meetings']} "
                 "arrival(s) while another thread was inside a package call on it (not an "
                 "overlap)")  # fmt: skip
        t = Table(title=title, title_style="bold")
        t.add_column(escape(f"{e['name']} entering"))
        t.add_column(escape(f"{e['owner_name']}, inside {call}"))
        mine, theirs = stack_lines(e["stack"]), stack_lines(e["owner_stack"])
        for i in range(max(len(mine), len(theirs))):
            t.add_row(*(_at(lines, i) for lines in (mine, theirs)))
        waited = s.get("call_waited_s", 0.0)
        t.caption = f"waited for such calls: {fmt_time(waited)}" if waited else "not waited for"
        if s["interleaves"]:
            t.caption += escape(
                f"; {s['interleaves']} call(s) interleaved: a thread entered again within its "
                "call after another thread's entry (harmless if the package keeps nothing in "
                "the Store between its entries, a wrong result if it does)"
            )
        tables.append(t)
    return tables


def _at(lines: list[str], i: int) -> str:
    if i >= len(lines):
        return ""
    return lines[i] if lines[i].startswith("[dim]") else escape(lines[i])


def compile_table(rows: Rows) -> Table | None:
    again = [r for r in of(rows, "compile") if r["pattern"] == "compile-per-call"]
    if not again:
        return None
    t = Table(title="Modules compiled more than once from the same bytes (compile per call)")
    for col in ("module", "pid", "compiles", "compiling, total", "of which again", "where"):
        t.add_column(col, justify="left" if col in ("module", "where") else "right")
    for r in again:
        total, first = sum(r["compile_s"]), r["compile_s"][0]
        t.add_row(f"{r['sha256'][:12]} ({r['size_bytes'] / 1e6:.2g} MB)", str(r["pid"]),
                  str(r["compiles"]), fmt_time(total), fmt_time(total - first),
                  escape(", ".join(where(s) for s in r["sites"])))  # fmt: skip
    t.caption = "compile once (or Module.serialize once and deserialize) and share the Module"
    return t


def engine_table(rows: Rows) -> Table | None:
    again = [r for r in of(rows, "engine") if r["pattern"] == "engine-per-call"]
    if not again:
        return None
    t = Table(title="Engines made again and again at one line (an Engine per call)")
    for col in ("made at", "pid", "Engines", "threads"):
        t.add_column(col, justify="left" if col == "made at" else "right")
    for r in again:
        t.add_row(escape(where(r["site"])), str(r["pid"]), str(r["engines"]), str(r["threads"]))
    t.caption = "an Engine is meant to be made once per process and shared by every Store"
    return t


def race_lines(rows: Rows) -> list[str]:
    lines = []
    for s in (r for r in of(rows, "site") if r["unsafe"] and r["race"]):
        race = s["race"]
        if race["ready"]:
            state = f"[green]ready to run[/green] ({escape(race['checked'])})"
        elif race["todo"]:
            state = f"[yellow]a template[/yellow]: fill in {escape('; '.join(race['todo']))}"
        elif race["checked"]:
            state = f"[yellow]not ready[/yellow]: {escape(race['checked'])}"
        else:
            state = "[yellow]not checked[/yellow] (only the first few are, and not after Ctrl-C)"
        lines.append(f"reproduce {escape(where(s['site']))}, {state}:")
        lines.append(f"  {escape(race['command'])}")
    return lines


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
            return "hooks: no Store was entered"
        return f"hooks: {entries:,} Store entries; their cost was not measured (no process " \
               f"that used a Store reached its normal exit){waits}"  # fmt: skip
    c = costs[0]
    program = of(rows, "program")
    wall = program[0]["duration_s"] if program else 0.0
    share = f", {summary['hook_s'] / wall:.1%} of the program's {wall:.1f} s" if wall else ""
    slow = sum(p["slow_ns"] for p in costs) / 1e9
    at_exit = sum(p["exit_ns"] for p in costs) / 1e9
    return (f"hooks: about {fmt_time(summary['hook_s'])}{share}: {entries:,} Store entries at "
            f"{fmt_time(c['per_entry_ns'] / 1e9)} each on the fast path ({c['operation']} "
            f"hooked {fmt_time(c['hooked_ns'] / 1e9)} vs plain {fmt_time(c['plain_ns'] / 1e9)}, "
            f"median of {c['rounds']} interleaved rounds at exit), {fmt_time(slow)} timed in "
            f"the rest of their work (stacks, records, hashes) and {fmt_time(at_exit)} at "
            f"exit{waits}")  # fmt: skip


def verdict(rows: Rows) -> tuple[int, str]:
    """trace's exit code (0 no Store shared with overlap, 1 one was, or the trace was
    interrupted) and what it says."""
    summary = summary_of(rows)
    code, text = _sharing(rows, summary)
    interrupted = summary.get("interrupted")
    if interrupted:
        text += (f"; [yellow]interrupted by {escape(interrupted)}: the report covers what was "
                 "traced until then[/yellow]")  # fmt: skip
        code = 1
    return code, text


def _sharing(rows: Rows, summary: dict[str, Any]) -> tuple[int, str]:
    shared = summary.get("shared", 0)
    if shared:
        return 1, (f"[red]{shared} Store(s) shared across threads, two inside at once "
                   f"({summary['overlaps']:,} overlaps)[/red]")  # fmt: skip
    stores = summary.get("stores", 0)
    if not summary.get("wasmtime_processes"):
        pythons = sorted({p["executable"] for p in of(rows, "process")})
        return 0, (f"[yellow]no process imported wasmtime: nothing to watch[/yellow] (ran "
                   f"{escape(', '.join(pythons))}; is it the environment you meant? --python "
                   "picks another)")  # fmt: skip
    return 0, f"[green]no Store shared with overlap[/green] ({stores} Store(s) watched)"


def status_line(tally: dict[str, int], command: str) -> str:
    overlaps = tally.get("overlaps", 0)
    style = "red" if overlaps else "default"
    return (f"tracing {escape(command)}: {tally.get('processes', 0)} process(es), "
            f"{tally.get('stores', 0)} Store(s), {tally.get('entries', 0):,} entries, "
            f"[{style}]{overlaps} overlap(s)[/{style}]")  # fmt: skip


def report(rows: Rows) -> list[RenderableType | str]:
    """Everything, in reading order."""
    parts: list[RenderableType | str] = [*program_lines(rows)]
    if of(rows, "site"):
        parts += [sites_table(rows), stores_table(rows), *overlap_tables(rows),
                  *call_tables(rows)]  # fmt: skip
    parts += [t for t in (compile_table(rows), engine_table(rows)) if t is not None]
    parts += race_lines(rows)
    parts += [overhead_line(rows), verdict(rows)[1]]
    return parts


def group(rows: Rows) -> Group:
    return Group(*report(rows))
