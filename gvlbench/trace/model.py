"""`gvlbench trace`'s records, read into processes, Stores, creation sites, compiles, Engines.

The hook (gvlbench/tracehook) writes one JSON-lines file per process; the harness feeds each
record here as it arrives (`TraceModel.add`), so the live status line and the final report
read one model. `rows()` turns it into the results file's `trace` section (docs/results.md),
and the tables (report/trace_tables.py) read only those rows, so `gvlbench show` draws them
again from a file. What each lifetime pattern means is `PATTERNS`; how a Store earns one is
`store_pattern`.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

Frame = list[Any]  # [file, line, function, category]: category user or site

# A Store's lifetime pattern, and what it says. Only `shared` is unsafe.
PATTERNS = {
    "shared": "one object's Store, shared across threads: two were inside it at once",
    "shared-locked": "shared across threads, never two inside at once (a lock, or luck)",
    "moved": "handed from one thread to the next, never used by two at once",
    "per-call": "one per call: made, used and dropped inside one call, again and again",
    "per-thread": "one per thread",
    "per-process": "one per process, used by one thread",
    "per-object": "one per object, all used by one thread",
    "unused": "made, never entered",
}
STORE_ROWS_MAX = 200  # the most telling Stores; sites and the summary count every one
STACKS_PER_STORE = 16  # threads whose first entry keeps its stack (a suite makes many threads)


@dataclass
class ThreadUse:
    thread: int
    name: str
    entries: int = 0
    stack: list[Frame] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)


@dataclass
class StoreUse:
    pid: int
    label: str
    created_ns: int
    created_by: str
    stack: list[Frame]
    threads: dict[int, ThreadUse] = field(default_factory=dict)
    entries: int = 0
    overlaps: int = 0
    ahead: int = 0  # entries that went in beside another thread (--let-it-crash, or a stall)
    meetings: int = 0  # a thread arrived while another was inside a package call on it
    interleaves: int = 0  # another thread's entries between two of one package call
    waited_ns: int = 0
    call_waited_ns: int = 0
    switches: int = 0
    within_call: bool = True
    ended: str = ""  # closed | alive at exit | "" (its process ended without saying)
    examples: list[dict[str, Any]] = field(default_factory=list)
    meeting_examples: list[dict[str, Any]] = field(default_factory=list)
    interleave_examples: list[dict[str, Any]] = field(default_factory=list)
    stalls: list[str] = field(default_factory=list)  # threads that waited too long to enter


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
    entry_points: list[str] = field(default_factory=list)
    on_overlap: str = ""
    overhead: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)


def site_of(stack: list[Frame]) -> Frame | None:
    """Where a Store (Module, Engine) was made, as its user knows it: the innermost frame of
    the program's own code, else the innermost kept frame (the package's)."""
    for frame in reversed(stack):
        if frame[3] == "user":
            return frame
    return stack[-1] if stack else None


def site_key(stack: list[Frame]) -> str:
    site = site_of(stack)
    return f"{site[0]}:{site[1]}" if site else "(no frame of the program)"


class TraceModel:
    """Every record of one traced command, by process."""

    def __init__(self) -> None:
        self.processes: dict[int, ProcessUse] = {}
        self.stores: dict[tuple[int, str], StoreUse] = {}
        self.modules: list[dict[str, Any]] = []
        self.engines: list[dict[str, Any]] = []
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
        proc.wasmtime, proc.entry_points, proc.on_overlap = (
            r["version"], r["entry_points"], r["on_overlap"])  # fmt: skip

    def _on_store(self, pid: int, r: dict[str, Any]) -> None:
        self.stores[pid, r["store"]] = StoreUse(pid, r["store"], r["ns"], r["name"], r["stack"])

    def _on_enter(self, pid: int, r: dict[str, Any]) -> None:
        store = self.stores.get((pid, r["store"]))
        if store is not None:
            use = store.threads.setdefault(r["thread"], ThreadUse(r["thread"], r["name"]))
            use.stack, use.holders = r["stack"], r["holders"]

    def _on_overlap(self, pid: int, r: dict[str, Any]) -> None:
        store = self.stores.get((pid, r["store"]))
        if store is not None:
            store.examples.append({k: r[k] for k in (
                "thread", "name", "operation", "stack", "holders", "owner", "owner_name",
                "owner_operation", "owner_stack")})  # fmt: skip
            store.overlaps = max(store.overlaps, len(store.examples))

    def _on_meeting(self, pid: int, r: dict[str, Any]) -> None:
        store = self.stores.get((pid, r["store"]))
        if store is not None:
            store.meeting_examples.append({k: r[k] for k in (
                "thread", "name", "stack", "owner", "owner_name", "owner_stack",
                "call")})  # fmt: skip
            store.meetings = max(store.meetings, len(store.meeting_examples))

    def _on_interleave(self, pid: int, r: dict[str, Any]) -> None:
        store = self.stores.get((pid, r["store"]))
        if store is not None:
            store.interleave_examples.append({k: r[k] for k in (
                "thread", "name", "stack", "call", "other", "other_name")})  # fmt: skip
            store.interleaves = max(store.interleaves, len(store.interleave_examples))

    def _on_count(self, pid: int, r: dict[str, Any]) -> None:
        store = self.stores.get((pid, r["store"]))
        if store is None:
            return
        for key in ("entries", "switches", "waited_ns", "call_waited_ns", "ahead",
                    "within_call"):  # fmt: skip
            setattr(store, key, r[key])
        store.meetings = max(r["meetings"], len(store.meeting_examples))
        store.overlaps = max(r["overlaps"], len(store.examples))
        store.interleaves = max(r["interleaves"], len(store.interleave_examples))
        for thread, entries in r["threads"].items():
            use = store.threads.setdefault(int(thread), ThreadUse(int(thread), f"thread {thread}"))
            use.entries = entries

    def _on_end(self, pid: int, r: dict[str, Any]) -> None:
        self._on_count(pid, r)
        store = self.stores.get((pid, r["store"]))
        if store is not None:
            store.ended = r["how"]

    def _on_stall(self, pid: int, r: dict[str, Any]) -> None:
        store = self.stores.get((pid, r["store"]))
        if store is not None:
            if r["level"] == "call":
                then = ("then went ahead (that call may have been waiting for it), and so do "
                        "later meetings at these lines")  # fmt: skip
                what = "package call"
            else:
                then = ("then went in beside it (it was running Python inside its entry: a "
                        "host callback waiting for the other thread?)" if r["went_ahead"]
                        else "and waited on (it was running Wasm)")  # fmt: skip
                what = "entry"
            store.stalls.append(
                f"{r['name']} waited {r['waited_s']:g} s for {r['owner_name']}'s {what}, {then}"
            )

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
        return {
            "processes": len(self.processes),
            "stores": len(self.stores),
            "shared": sum(1 for s in self.stores.values() if s.overlaps),
            "overlaps": sum(s.overlaps for s in self.stores.values()),
            "meetings": sum(s.meetings for s in self.stores.values()),
            "interleaves": sum(s.interleaves for s in self.stores.values()),
            "entries": sum(s.entries for s in self.stores.values()),
        }

    # -- the results file's rows
    def rows(self) -> list[dict[str, Any]]:
        """process, site, store, compile and engine rows, then one summary row."""
        patterns = self.patterns()
        stores = sorted(self.stores.values(), key=lambda s: (
            -s.overlaps, -len(s.threads), -s.entries, s.pid, s.created_ns))  # fmt: skip
        rows = [process_row(p, self._entries_of(p.pid)) for p in self.processes.values()]
        rows += site_rows(self.stores.values(), patterns)
        rows += [store_row(s, patterns[s.pid, s.label]) for s in stores[:STORE_ROWS_MAX]]
        rows += compile_rows(self.modules) + engine_rows(self.engines)
        rows.append(self.summary(len(stores) - min(len(stores), STORE_ROWS_MAX)))
        return rows

    def _entries_of(self, pid: int) -> int:
        return sum(s.entries for s in self.stores.values() if s.pid == pid)

    def patterns(self) -> dict[tuple[int, str], str]:
        """Each Store's lifetime pattern, which may depend on its site's other Stores."""
        by_site: dict[tuple[int, str], list[StoreUse]] = defaultdict(list)
        for s in self.stores.values():
            by_site[s.pid, site_key(s.stack)].append(s)
        found = {}
        for stores in by_site.values():
            threads = {t for s in stores for t in s.threads}
            for s in stores:
                found[s.pid, s.label] = store_pattern(s, len(threads), len(stores))
        return found

    def summary(self, omitted: int = 0) -> dict[str, Any]:
        tally = self.tally()
        hook_ns = sum(
            p.overhead["per_entry_ns"] * self._entries_of(p.pid)
            + p.overhead["slow_ns"]
            + p.overhead["exit_ns"]
            for p in self.processes.values()
            if p.overhead
        )
        waited_ns = sum(s.waited_ns + s.call_waited_ns for s in self.stores.values())
        return {"kind": "summary", **tally, "store_rows_omitted": omitted,
                "hook_s": hook_ns / 1e9, "waited_s": waited_ns / 1e9,
                "damaged_lines": self.damaged, "interrupted": "",
                "python_processes": len(self.processes),
                "wasmtime_processes": sum(1 for p in self.processes.values()
                                          if p.wasmtime)}  # fmt: skip


def set_interrupted(rows: list[dict[str, Any]], why: str) -> None:
    """Note in the summary row that a signal stopped the trace (`why`: which, and when)."""
    for row in rows:
        if row["kind"] == "summary" and why:
            row["interrupted"] = why


def store_pattern(s: StoreUse, site_threads: int, site_stores: int) -> str:
    """`s`'s pattern; `site_threads` and `site_stores`: how many threads entered, and how
    many Stores came from, its creation site in its process."""
    threads = len(s.threads)
    if threads >= 2:
        if s.overlaps:
            return "shared"
        return "moved" if s.switches <= threads - 1 else "shared-locked"
    if threads == 0:
        return "unused"
    if s.within_call and s.ended == "closed" and site_stores >= 2:
        return "per-call"
    if site_threads >= 2:
        return "per-thread"
    return "per-process" if site_stores == 1 else "per-object"


def overhead_of(r: dict[str, Any]) -> dict[str, Any]:
    """The hook's cost per entry: the median over rounds of hooked minus plain, both per call."""
    diffs = [h - p for h, p in zip(r["hooked_ns"], r["plain_ns"], strict=False)]
    return {"operation": r["operation"], "rounds": r["rounds"], "calls": r["calls"],
            "plain_ns": statistics.median(r["plain_ns"]),
            "hooked_ns": statistics.median(r["hooked_ns"]),
            "per_entry_ns": max(0.0, statistics.median(diffs)), "slow_ns": r["slow_ns"],
            "exit_ns": r["exit_ns"]}  # fmt: skip


def process_row(p: ProcessUse, entries: int) -> dict[str, Any]:
    return {"kind": "process", "pid": p.pid, "ppid": p.ppid, "argv": p.argv,
            "executable": p.executable, "python": p.python, "gil": p.gil, "cwd": p.cwd,
            "wasmtime": p.wasmtime, "on_overlap": p.on_overlap, "entries": entries,
            "overhead": p.overhead, "hook_errors": p.errors,
            "duration_s": (p.last_ns - p.first_ns) / 1e9}  # fmt: skip


def store_row(s: StoreUse, pattern: str) -> dict[str, Any]:
    return {"kind": "store", "pid": s.pid, "store": s.label, "site": site_key(s.stack),
            "pattern": pattern, "unsafe": pattern == "shared", "created_by": s.created_by,
            "stack": s.stack, "entries": s.entries, "overlaps": s.overlaps, "ahead": s.ahead,
            "meetings": s.meetings, "interleaves": s.interleaves,
            "waited_s": s.waited_ns / 1e9, "call_waited_s": s.call_waited_ns / 1e9,
            "switches": s.switches, "within_call": s.within_call,
            "ended": s.ended or "with its process", "threads": _thread_rows(s),
            "examples": s.examples, "meeting_examples": s.meeting_examples,
            "interleave_examples": s.interleave_examples,
            "stalls": s.stalls}  # fmt: skip


def _thread_rows(s: StoreUse) -> list[dict[str, Any]]:
    """Every thread that entered, busiest first; the stacks of the first few only."""
    threads = sorted(s.threads.values(), key=lambda t: -t.entries)
    return [vars(t) if i < STACKS_PER_STORE else {**vars(t), "stack": [], "holders": []}
            for i, t in enumerate(threads)]  # fmt: skip


def site_rows(stores: Any, patterns: dict[tuple[int, str], str]) -> list[dict[str, Any]]:
    """One row per creation site (across processes): its Stores' patterns and verdict."""
    by_site: dict[str, list[StoreUse]] = defaultdict(list)
    for s in stores:
        by_site[site_key(s.stack)].append(s)
    rows = []
    for key, group in by_site.items():
        counted = Counter(patterns[s.pid, s.label] for s in group)
        unsafe = [s for s in group if patterns[s.pid, s.label] == "shared"]
        pattern = "shared" if unsafe else counted.most_common(1)[0][0]
        first = max(unsafe, key=lambda s: s.overlaps) if unsafe else group[0]
        rows.append({"kind": "site", "site": key, "pattern": pattern, "unsafe": bool(unsafe),
                     "patterns": dict(counted), "stores": len(group),
                     "pids": sorted({s.pid for s in group}),
                     "threads": len({(s.pid, t) for s in group for t in s.threads}),
                     "entries": sum(s.entries for s in group),
                     "overlaps": sum(s.overlaps for s in group),
                     "meetings": sum(s.meetings for s in group),
                     "interleaves": sum(s.interleaves for s in group), "stack": first.stack,
                     "example_store": [first.pid, first.label], "race": None})  # fmt: skip
    return sorted(rows, key=lambda r: (not r["unsafe"], -r["overlaps"], -r["stores"]))


def compile_rows(modules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (process, module bytes): how often they were compiled, where, and how long."""
    by_bytes: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for m in modules:
        by_bytes[m["pid"], m["sha256"]].append(m)
    return [{"kind": "compile", "pid": pid, "sha256": sha, "size_bytes": group[0]["size"],
             "compiles": len(group),
             "pattern": "compile-per-call" if len(group) > 1 else "once",
             "compile_s": [m["compile_ns"] / 1e9 for m in group],
             "sites": sorted({site_key(m["stack"]) for m in group}), "stack": group[0]["stack"]}
            for (pid, sha), group in by_bytes.items()]  # fmt: skip


def engine_rows(engines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (process, site): how many Engines were made there (an Engine is meant to be made
    once and shared; several from one line is an Engine per call)."""
    by_site: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for e in engines:
        by_site[e["pid"], site_key(e["stack"])].append(e)
    return [{"kind": "engine", "pid": pid, "site": site, "engines": len(group),
             "pattern": "engine-per-call" if len(group) > 1 else "once",
             "threads": len({e["thread"] for e in group}), "stack": group[0]["stack"]}
            for (pid, site), group in by_site.items()]  # fmt: skip
