"""`gvlbench trace`'s records, read into processes, watched objects, findings, compiles, Engines.

The hook (gvlbench/trace/hook) writes one JSON-lines file per process; the harness feeds each
record here as it arrives (`TraceModel.add`), so the live status line and the final report
read one model. `rows()` turns it into the results file's `trace` section (docs/results.md):
rows.py builds the rows of what was watched, hazards.py the findings. The tables (tables.py)
read only those rows, so `gvlbench show` draws them again from a file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gvlbench.trace import hazards
from gvlbench.trace.rows import (
    ObjectUse,
    ThreadUse,
    compile_rows,
    engine_rows,
    object_row,
    overhead_of,
    patterns,
    site_rows,
)

OBJECT_ROWS_MAX = 200  # the most telling objects; sites and the summary count every one
READ_VERSIONS = (2, 3)  # of the hook's records (the process record's `v`)


@dataclass
class ProcessUse:
    pid: int
    ppid: int
    argv: list[str]
    executable: str
    python: str
    gil: str
    cwd: str
    first_ns: int
    last_ns: int
    wasmtime: str | None = None
    watching: dict[str, list[str]] = field(default_factory=dict)  # class -> entry points
    patches: dict[str, str] = field(default_factory=dict)  # asked for -> "" or why not
    on_overlap: str = ""
    overhead: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    libraries: list[str] = field(default_factory=list)


class TraceModel:
    """Every record of one traced command, by process."""

    def __init__(self) -> None:
        self.processes: dict[int, ProcessUse] = {}
        self.objects: dict[tuple[int, str], ObjectUse] = {}
        self.modules: list[dict[str, Any]] = []
        self.engines: list[dict[str, Any]] = []
        self.handoffs: list[dict[str, Any]] = []
        self.parallel: list[dict[str, Any]] = []  # pytest-run-parallel's account, per process
        self.damaged = 0  # lines that were not a record (a process killed mid-write)

    def add(self, pid: int, record: dict[str, Any]) -> None:
        kind = record.get("t")
        handler = getattr(self, f"_on_{str(kind).replace('-', '_')}", None)
        if handler is None or (kind != "process" and pid not in self.processes):
            self.damaged += 1
            return
        if pid in self.processes:
            self.processes[pid].last_ns = max(self.processes[pid].last_ns, record["ns"])
        handler(pid, record)

    def _on_process(self, pid: int, r: dict[str, Any]) -> None:
        keys = ("ppid", "argv", "executable", "python", "gil", "cwd", "ns", "ns")
        self.processes[pid] = ProcessUse(pid, *(r[k] for k in keys))

    def _on_wasmtime(self, pid: int, r: dict[str, Any]) -> None:
        proc = self.processes[pid]
        proc.wasmtime, proc.on_overlap = r["version"], r["on_overlap"]
        proc.patches = dict(r.get("patches") or {})

    def _on_watching(self, pid: int, r: dict[str, Any]) -> None:
        self.processes[pid].watching.setdefault(r["cls"], []).extend(r["entry_points"])

    def _on_object(self, pid: int, r: dict[str, Any]) -> None:
        self.objects[pid, r["store"]] = ObjectUse(pid, r["store"], r["ns"], r["name"], r["stack"],
                                                  r["cls"], r["serialised"])  # fmt: skip

    def _on_store(self, pid: int, r: dict[str, Any]) -> None:  # records of format 2
        self.objects[pid, r["store"]] = ObjectUse(pid, r["store"], r["ns"], r["name"], r["stack"])

    def _object(self, pid: int, r: dict[str, Any]) -> ObjectUse | None:
        return self.objects.get((pid, r["store"]))

    def _on_enter(self, pid: int, r: dict[str, Any]) -> None:
        s = self._object(pid, r)
        if s is not None:
            use = s.threads.setdefault(r["thread"], ThreadUse(r["thread"], r["name"]))
            use.stack, use.holders = r["stack"], r["holders"]

    def _on_overlap(self, pid: int, r: dict[str, Any]) -> None:
        s = self._object(pid, r)
        if s is not None:
            s.examples.append({k: r.get(k, "") for k in (
                "thread", "name", "operation", "stack", "holders", "owner", "owner_name",
                "owner_operation", "owner_stack", "test")})  # fmt: skip
            s.overlaps = max(s.overlaps, len(s.examples))

    def _on_meeting(self, pid: int, r: dict[str, Any]) -> None:
        s = self._object(pid, r)
        if s is not None:
            s.meeting_examples.append({k: r.get(k, "") for k in (
                "thread", "name", "stack", "owner", "owner_name", "owner_stack", "call",
                "test")})  # fmt: skip
            s.meetings = max(s.meetings, len(s.meeting_examples))

    def _on_interleave(self, pid: int, r: dict[str, Any]) -> None:
        s = self._object(pid, r)
        if s is not None:
            s.interleave_examples.append({k: r[k] for k in (
                "thread", "name", "stack", "call", "other", "other_name")})  # fmt: skip
            s.interleaves = max(s.interleaves, len(s.interleave_examples))

    def _on_count(self, pid: int, r: dict[str, Any]) -> None:
        s = self._object(pid, r)
        if s is None:
            return
        for key in ("entries", "switches", "waited_ns", "call_waited_ns", "ahead",
                    "within_call"):  # fmt: skip
            setattr(s, key, r[key])
        s.meetings = max(r["meetings"], len(s.meeting_examples))
        s.overlaps = max(r["overlaps"], len(s.examples))
        s.interleaves = max(r["interleaves"], len(s.interleave_examples))
        for thread, entries in r["threads"].items():
            use = s.threads.setdefault(int(thread), ThreadUse(int(thread), f"thread {thread}"))
            use.entries = entries

    def _on_end(self, pid: int, r: dict[str, Any]) -> None:
        self._on_count(pid, r)
        s = self._object(pid, r)
        if s is not None:
            s.ended = r["how"]

    def _on_stall(self, pid: int, r: dict[str, Any]) -> None:
        s = self._object(pid, r)
        if s is not None:
            s.stalls.append(stall_note(r))

    def _on_handoff(self, pid: int, r: dict[str, Any]) -> None:
        self.handoffs.append({"pid": pid, **r})

    def _on_pytest_parallel(self, pid: int, r: dict[str, Any]) -> None:
        self.parallel.append({"pid": pid, **r})

    def _on_libraries(self, pid: int, r: dict[str, Any]) -> None:
        self.processes[pid].libraries = list(r["paths"])

    def _on_module(self, pid: int, r: dict[str, Any]) -> None:
        self.modules.append({"pid": pid, **r})

    def _on_engine(self, pid: int, r: dict[str, Any]) -> None:
        self.engines.append({"pid": pid, **r})

    def _on_overhead(self, pid: int, r: dict[str, Any]) -> None:
        self.processes[pid].overhead = overhead_of(r)

    def _on_hook_error(self, pid: int, r: dict[str, Any]) -> None:
        self.processes[pid].errors.append(f"{r['where']}: {r['error']}")

    # -- what the live status line shows
    def tally(self) -> dict[str, int]:
        objects = self.objects.values()
        return {
            "processes": len(self.processes),
            "objects": len(self.objects),
            "shared": sum(1 for s in objects if s.overlaps and not s.serialised),
            "overlaps": sum(s.overlaps for s in objects if not s.serialised),
            "meetings": sum(s.meetings for s in objects),
            "interleaves": sum(s.interleaves for s in objects),
            "entries": sum(s.entries for s in objects),
            "handoffs": len(self.handoffs),
        }

    # -- the results file's rows
    def rows(self, patchable: set[str] = frozenset()) -> list[dict[str, Any]]:  # type: ignore[assignment]
        """process, site, object, finding, pytest, compile and engine rows, then a summary.
        `patchable`: the watched classes a gvlbench patch applies to."""
        found = patterns(self.objects.values())
        objects = sorted(self.objects.values(), key=lambda s: (
            -s.overlaps, -len(s.threads), -s.entries, s.pid, s.created_ns))  # fmt: skip
        rows = [process_row(p, self._entries_of(p.pid)) for p in self.processes.values()]
        sites = site_rows(self.objects.values(), found)
        findings = hazards.shared_findings(sites, self.objects.values(), patchable)
        findings += hazards.handoff_findings(self.handoffs)
        rows += sites + findings + [parallel_row(p) for p in self.parallel]
        rows += [object_row(s, found[s.pid, s.label]) for s in objects[:OBJECT_ROWS_MAX]]
        rows += compile_rows(self.modules) + engine_rows(self.engines)
        omitted = len(objects) - min(len(objects), OBJECT_ROWS_MAX)
        rows.append(self.summary(omitted, len(findings)))
        return rows

    def _entries_of(self, pid: int) -> int:
        return sum(s.entries for s in self.objects.values() if s.pid == pid)

    def summary(self, omitted: int = 0, findings: int = 0) -> dict[str, Any]:
        tally = self.tally()
        hook_ns = sum(
            p.overhead["per_entry_ns"] * self._entries_of(p.pid)
            + p.overhead["slow_ns"]
            + p.overhead["exit_ns"]
            for p in self.processes.values()
            if p.overhead
        )
        waited_ns = sum(s.waited_ns + s.call_waited_ns for s in self.objects.values())
        return {"kind": "summary", **tally, "findings": findings,
                "object_rows_omitted": omitted, "hook_s": hook_ns / 1e9,
                "waited_s": waited_ns / 1e9, "damaged_lines": self.damaged, "interrupted": "",
                "python_processes": len(self.processes),
                "wasmtime_processes": sum(1 for p in self.processes.values() if p.wasmtime),
                "watching_processes": sum(1 for p in self.processes.values()
                                          if p.watching)}  # fmt: skip


def stall_note(r: dict[str, Any]) -> str:
    """A thread that waited too long for another's entry or package call, and what then."""
    if r["level"] == "call":
        then = ("then went ahead (that call may have been waiting for it), and so do later "
                "meetings at these lines")  # fmt: skip
        what = "package call"
    else:
        then = ("then went in beside it (it was running Python inside its entry: a host "
                "callback waiting for the other thread?), and so do later overlaps at these "
                "lines, at any object" if r["went_ahead"]
                else "and waited on (it was running Wasm)")  # fmt: skip
        what = "entry"
    return f"{r['name']} waited {r['waited_s']:g} s for {r['owner_name']}'s {what}, {then}"


def set_interrupted(rows: list[dict[str, Any]], why: str) -> None:
    """Note in the summary row that a signal stopped the trace (`why`: which, and when)."""
    for row in rows:
        if row["kind"] == "summary" and why:
            row["interrupted"] = why


def process_row(p: ProcessUse, entries: int) -> dict[str, Any]:
    return {"kind": "process", "pid": p.pid, "ppid": p.ppid, "argv": p.argv,
            "executable": p.executable, "python": p.python, "gil": p.gil, "cwd": p.cwd,
            "wasmtime": p.wasmtime, "watching": p.watching, "patches": p.patches,
            "on_overlap": p.on_overlap, "entries": entries, "overhead": p.overhead,
            "hook_errors": p.errors, "libraries": p.libraries,
            "duration_s": (p.last_ns - p.first_ns) / 1e9}  # fmt: skip


def parallel_row(r: dict[str, Any]) -> dict[str, Any]:
    """pytest-run-parallel's account of one pytest process: how many tests ran in N threads,
    how many in one, and the plugin's reasons, counted."""
    reasons = Counter(why or "(no reason given)" for why in r["one_thread"].values())
    return {"kind": "pytest", "pid": r["pid"], "parallel": len(r["parallel"]),
            "threads": sorted(set(r["parallel"].values())), "one_thread": len(r["one_thread"]),
            "skipped": r["skipped"], "reasons": dict(reasons.most_common()),
            "tests_in_threads": sorted(r["parallel"]),
            "tests_in_one": r["one_thread"]}  # fmt: skip
