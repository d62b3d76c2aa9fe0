"""`gvlbench trace`'s tables, drawn from the results file's `trace` rows alone.

Per creation site (with how many objects it made), the busiest objects, then one table per
finding: both threads' stacks at the moment (two inside one object; a host exception raised
in one thread and taken in another), one per site, however many objects it made; then the
meetings that were not overlaps, and compiles and Engines made again and again. Functions
return rich renderables; only the CLI prints. report.py puts them in reading order.
"""

from __future__ import annotations

import os
from typing import Any

from rich.markup import escape
from rich.table import Table

from gvlbench.report.render import fmt_time
from gvlbench.trace.hazards import HANDOFF, HAZARDS, SHARED
from gvlbench.trace.rows import PATTERNS
from gvlbench.trace.verdict import Rows, of, summary_of

OBJECTS_SHOWN = 12
MEETING_SITES_SHOWN = 3


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


def cls_name(cls: str) -> str:
    """`Store` for wasmtime.Store, `extism.Plugin` for extism.Plugin: what a column shows."""
    return cls.removeprefix("wasmtime.") or "Store"


def stack_lines(stack: list[list[Any]], keep: int = 6) -> list[str]:
    """The program's own frames (the last `keep`), then the package's first and last frame
    below them: the call into the package and the line that called the engine."""
    last_user = max((i for i, f in enumerate(stack) if f[3] == "user"), default=-1)
    lines = [frame_text(f) for f in stack[: last_user + 1] if f[3] == "user"][-keep:]
    below = stack[last_user + 1 :]
    if below:
        lines.append(f"[dim]-> {escape(frame_text(below[0]))}[/dim]")
        if len(below) > 1:
            lines.append(f"[dim]   ... {escape(frame_text(below[-1]))}[/dim]")
    return lines or ["(no Python frame of the program)"]


def _at(lines: list[str], i: int) -> str:
    if i >= len(lines):
        return ""
    return lines[i] if lines[i].startswith("[dim]") else escape(lines[i])


def _two_stacks(t: Table, mine: list[list[Any]], theirs: list[list[Any]]) -> Table:
    left, right = stack_lines(mine), stack_lines(theirs)
    for i in range(max(len(left), len(right))):
        t.add_row(_at(left, i), _at(right, i))
    return t


def sites_table(rows: Rows) -> Table:
    t = Table(title="Watched objects by creation site")
    for col in ("made at", "object", "made", "threads", "entries", "overlaps", "pattern"):
        t.add_column(col, justify="left" if col in ("made at", "object", "pattern") else "right")
    for s in of(rows, "site"):
        others = {k: v for k, v in s["patterns"].items() if k != s["pattern"]}
        pattern = f"{s['pattern']}: {PATTERNS[s['pattern']]}"
        if others:
            pattern += " (also " + ", ".join(f"{v} {k}" for k, v in others.items()) + ")"
        t.add_row(escape(where(s["site"])), escape(cls_name(s["cls"])), str(s["objects"]),
                  str(s["threads"]), f"{s['entries']:,}", str(s["overlaps"]), escape(pattern),
                  style="red" if s["unsafe"] else "")  # fmt: skip
    return t


def objects_table(rows: Rows) -> Table:
    objects = of(rows, "object")
    omitted = summary_of(rows).get("object_rows_omitted", 0) + max(0, len(objects) - OBJECTS_SHOWN)
    more = f"{omitted} more objects, and every thread of each, in the JSON results" if omitted \
        else "every thread of each object, and its entries, in the JSON results"  # fmt: skip
    t = Table(title="Watched objects, the busiest first", caption=more)
    for col in ("object", "made at", "pattern", "threads", "entries", "overlaps", "waited",
                "ended"):  # fmt: skip
        t.add_column(col, justify="left" if col in ("object", "made at", "pattern", "ended")
                     else "right")  # fmt: skip
    for s in objects[:OBJECTS_SHOWN]:
        t.add_row(escape(f"{cls_name(s['cls'])} {s['pid']}/{s['object']}"),
                  escape(where(s["site"])), s["pattern"], str(len(s["threads"])),
                  f"{s['entries']:,}", str(s["overlaps"]), _waited(s), s["ended"],
                  style="red" if s["unsafe"] else "")  # fmt: skip
    return t


def _waited(obj: dict[str, Any]) -> str:
    """Its threads' waits for another's entry or package call, in all."""
    waited = obj["waited_s"] + obj.get("call_waited_s", 0.0)
    return fmt_time(waited) if waited else "-"


def finding_tables(rows: Rows, notes: set[str]) -> list[Table]:
    """One table per finding: its first example's two stacks, side by side. `notes`: the
    notes already shown (a caption says each once)."""
    tables = []
    for f in of(rows, "finding"):
        draw = _shared if f["hazard"] == SHARED.kind else _handoff
        if f["examples"] or f["hazard"] == SHARED.kind:
            tables.append(draw(f, notes))
    return tables


def _tests_note(f: dict[str, Any]) -> str:
    tests = list(f["tests"])
    if not tests:
        return ""
    more = f" and {len(tests) - 3} more" if len(tests) > 3 else ""
    return f"in test(s) {', '.join(tests[:3])}{more}"


def _caption(parts: list[str], notes: set[str]) -> str:
    """The parts not said before, once each."""
    fresh = [p for p in dict.fromkeys(parts) if p and p not in notes]
    notes.update(fresh)
    return escape("; ".join(fresh))


def _shared(f: dict[str, Any], notes: set[str]) -> Table:
    objects = (f"{f['objects']} of its {f['site_objects']} {cls_name(f['cls'])}s"
               if f["site_objects"] > 1 else f"one {cls_name(f['cls'])}")  # fmt: skip
    title = (
        f"{SHARED.title}: {escape(where(f['site']))} made {objects} that two threads were "
        f"inside at once ({f['count']:,} overlap(s)); the first seen at these lines"
    )
    t = Table(title=title, title_style="bold red")
    e = f["examples"][0] if f["examples"] else None
    if e is None:
        t.add_column("(no stack was kept)")
        return t
    t.add_column(escape(f"{e['name']} entering {e['operation']}"))
    t.add_column(escape(f"{e['owner_name']}, inside {e['owner_operation']}"))
    _two_stacks(t, e["stack"], e["owner_stack"])
    holders = ", ".join(e["holders"]) or "none found"
    parts = [_tests_note(f), f"names holding it on the entering line: {holders}"]
    if f["meetings"]:
        parts.append(f"{f['meetings']} arrival(s) while another thread was inside a package "
                     "call on it")  # fmt: skip
    t.caption = _caption(parts + f["notes"][:3], notes)
    return t


def _handoff(f: dict[str, Any], notes: set[str]) -> Table:
    e = f["examples"][0]
    where_raised = f"{where(f['site'])}" + (f" (in {f['function']})" if f["function"] else "")
    title = (
        f"{HANDOFF.title}: raised at {escape(where_raised)}, {f['taken']} taken by another "
        f"thread's call, {f['lost']} lost to one; the first seen at these lines"
    )
    t = Table(title=title, title_style="bold red")
    if e["how"] == "taken":
        t.add_column(escape(f"{e['name']} got {e['error']}"))
        t.add_column(escape(f"{e['raiser_name'] or 'another thread'}, whose callback raised it"))
        _two_stacks(t, e.get("stack") or [], e.get("raiser_stack") or [])
    else:
        t.add_column(escape(f"{e['name']}, whose callback raised {e['error']}, got none back"))
        _two_stacks(t, e.get("stack") or [], [])
    errors = "; ".join(f"{n}x {text}" for text, n in f["errors"].items())
    t.caption = _caption([_tests_note(f), f"errors: {errors}"], notes)
    return t


def meeting_tables(rows: Rows) -> list[Table]:
    """For the first few sites of objects never shared with overlap where a thread arrived
    while another was inside a package call on one (a meeting, not an overlap): both stacks;
    one per site, however many objects it made."""
    tables, sites = [], set()
    for s in of(rows, "object"):
        if s["unsafe"] or not s["meeting_examples"] or s["site"] in sites:
            continue
        if len(tables) >= MEETING_SITES_SHOWN:
            break
        sites.add(s["site"])
        e = s["meeting_examples"][0]
        call = f"{short(e['call'][0])}:{e['call'][1]} {e['call'][2]}"
        title = (
            f"{escape(cls_name(s['cls']))}s made at {escape(where(s['site']))}: a thread "
            "arrived while another was inside a package call on one (not an overlap)"
        )
        t = Table(title=title, title_style="bold")
        t.add_column(escape(f"{e['name']} entering"))
        t.add_column(escape(f"{e['owner_name']}, inside {call}"))
        _two_stacks(t, e["stack"], e["owner_stack"])
        waited = s.get("call_waited_s", 0.0)
        t.caption = f"waited for such calls: {fmt_time(waited)}" if waited else "not waited for"
        if s["interleaves"]:
            t.caption += escape(
                f"; {s['interleaves']} call(s) interleaved: a thread entered again within its "
                "call after another thread's entry (harmless if the package keeps nothing in "
                "the object between its entries, a wrong result if it does)"
            )
        tables.append(t)
    return tables


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


def hazard_of(finding: dict[str, Any]) -> str:
    return HAZARDS[finding["hazard"]].title
