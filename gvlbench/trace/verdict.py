"""trace's exit code, and what it says: the program's own end and the findings, together.

0 only when the program ended with 0 and no hazard was found. 1 for a finding, and for a
program that failed (an exit code, a signal, a hang stopped at --timeout, a kill), or a trace
that could not vouch for it (interrupted, a --patch that was not applied, or only engines it
cannot watch): a failing program is never called safe because nothing was seen. 2 is bad
input, said before this is reached. Also the JUnit test cases (`--junit`): one per finding,
and the program itself, so a CI page shows them beside the suite's own results.
"""

from __future__ import annotations

import os
from typing import Any

from rich.markup import escape

from gvlbench.report.junit import Case
from gvlbench.trace.hazards import HAZARDS

Rows = list[dict[str, Any]]


def of(rows: Rows, kind: str) -> Rows:
    return [r for r in rows if r.get("kind") == kind]


def summary_of(rows: Rows) -> dict[str, Any]:
    found = of(rows, "summary")
    return found[0] if found else {}


def program_failed(rows: Rows) -> str:
    """How the program failed ("" if it exited 0, or no program row was kept)."""
    for p in of(rows, "program"):
        if p["status"] != "exited" or p["returncode"] != 0:
            return p["description"]
    return ""


def not_patched(rows: Rows) -> list[str]:
    """Each --patch a process that imported wasmtime did not get, and why."""
    return [f"{name} in pid {p['pid']}: {why}" for p in of(rows, "process")
            for name, why in (p.get("patches") or {}).items() if why]  # fmt: skip


def unwatched(rows: Rows) -> Rows:
    return [r for r in of(rows, "library") if not r["watched"]]


def reasons(rows: Rows) -> list[str]:
    """Why the exit code is 1, each in a few words (none: 0)."""
    summary, findings = summary_of(rows), of(rows, "finding")
    found = []
    if findings:
        kinds = sorted({HAZARDS[f["hazard"]].title for f in findings})
        found.append(f"{len(findings)} finding(s): {'; '.join(kinds)}")
    failed = program_failed(rows)
    if failed:
        found.append(f"the program failed: it {failed}")
    for p in of(rows, "program"):  # what was not recorded cannot be called safe
        if p.get("records_lost"):
            found.append(f"the trace is incomplete: {p['records_lost']}")
    if summary.get("interrupted"):
        found.append(f"interrupted by {summary['interrupted']}: the report covers what was "
                     "traced until then")  # fmt: skip
    for missing in not_patched(rows):
        found.append(f"--patch not applied: {missing}")
    if not summary.get("watching_processes") and unwatched(rows):
        engines = ", ".join(sorted({_engine(r) for r in unwatched(rows)}))
        found.append(f"nothing watched: the program ran {engines}, which trace cannot watch")
    return found


def _engine(row: dict[str, Any]) -> str:
    version = f" {row['version']}" if row.get("version") else ""
    return f"{row['engine']}{version} ({os.path.basename(row['path'])})"


def verdict(rows: Rows) -> tuple[int, str]:
    """trace's exit code (0 or 1) and its last line."""
    found = reasons(rows)
    if found:
        return 1, "[red]" + escape("; ".join(found)) + "[/red]"
    summary = summary_of(rows)
    return 0, (f"[green]no hazard found, and the program exited 0[/green] "
               f"({summary.get('objects', 0)} object(s) watched, "
               f"{summary.get('entries', 0):,} entries)")  # fmt: skip


def junit_cases(rows: Rows) -> list[Case]:
    """The program, then one failed case per finding (its site, the tests it happened in, the
    fix, both stacks' innermost lines)."""
    program = of(rows, "program")
    failed = program_failed(rows)
    cases = [Case("program", "gvlbench.trace", program[0]["duration_s"] if program else 0.0,
                  "failed" if failed else "passed", failed,
                  " ".join(program[0]["argv"]) if program else "")]  # fmt: skip
    for f in of(rows, "finding"):
        hazard = HAZARDS[f["hazard"]]
        tests = ", ".join(list(f["tests"])[:5]) or "(not under pytest)"
        message = (f"{hazard.title} at {f['site']} ({f['count']} time(s); tests: {tests}): "
                   f"{hazard.meaning}. Fix: {hazard.fix}"
                   + (f" (gvlbench patch {f['patch']})" if f.get("patch") else ""))  # fmt: skip
        output = (f["race"] or {}).get("command", "")
        cases.append(Case(f"{hazard.kind}: {f['site']}", f"gvlbench.trace.{hazard.kind}", 0.0,
                          "failed", message, output))  # fmt: skip
    return cases
