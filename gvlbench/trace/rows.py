"""The results file's `trace` rows, built from the model (model.py): processes, creation sites,
objects, compiles and Engines. Pure: the model's dataclasses in, dicts out (docs/results.md).

What each lifetime pattern means is `PATTERNS`; how an object earns one is `object_pattern`.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Frame = list[Any]  # [file, line, function, category]: category user or site

# A watched object's lifetime pattern, and what it says. Only `shared` is unsafe.
PATTERNS = {
    "shared": "shared across threads: two were inside it at once",
    "shared-serialised": "shared across threads, two inside its methods at once; it serialises "
    "them itself (a lock inside it), so they queue",
    "shared-locked": "shared across threads, never two inside at once (a lock, or luck)",
    "moved": "handed from one thread to the next, never used by two at once",
    "per-call": "one per call: made, used and dropped inside one call, again and again",
    "per-thread": "one per thread",
    "per-process": "one per process, used by one thread",
    "per-object": "one per object, all used by one thread",
    "unused": "made, never entered",
}
STACKS_PER_OBJECT = 16  # threads whose first entry keeps its stack (a suite makes many threads)


@dataclass
class ThreadUse:
    thread: int
    name: str
    entries: int = 0
    stack: list[Frame] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)


@dataclass
class ObjectUse:
    pid: int
    label: str
    created_ns: int
    created_by: str
    stack: list[Frame]
    cls: str = "wasmtime.Store"
    serialised: bool = False
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


def site_of(stack: list[Frame]) -> Frame | None:
    """Where an object (Module, Engine) was made, as its user knows it: the innermost frame
    of the program's own code, else the innermost kept frame (the package's)."""
    for frame in reversed(stack):
        if frame[3] == "user":
            return frame
    return stack[-1] if stack else None


def site_key(stack: list[Frame]) -> str:
    site = site_of(stack)
    return f"{site[0]}:{site[1]}" if site else "(no frame of the program)"


def object_pattern(s: ObjectUse, site_threads: int, site_objects: int) -> str:
    """`s`'s pattern; `site_threads` and `site_objects`: how many threads entered, and how
    many objects came from, its creation site in its process."""
    threads = len(s.threads)
    if threads >= 2:
        if s.overlaps:
            return "shared-serialised" if s.serialised else "shared"
        return "moved" if s.switches <= threads - 1 else "shared-locked"
    if threads == 0:
        return "unused"
    if s.within_call and s.ended == "closed" and site_objects >= 2:
        return "per-call"
    if site_threads >= 2:
        return "per-thread"
    return "per-process" if site_objects == 1 else "per-object"


def patterns(objects: Iterable[ObjectUse]) -> dict[tuple[int, str], str]:
    """Each object's lifetime pattern, which may depend on its site's other objects."""
    by_site: dict[tuple[int, str, str], list[ObjectUse]] = defaultdict(list)
    for s in objects:
        by_site[s.pid, s.cls, site_key(s.stack)].append(s)
    found = {}
    for group in by_site.values():
        threads = {t for s in group for t in s.threads}
        for s in group:
            found[s.pid, s.label] = object_pattern(s, len(threads), len(group))
    return found


def overhead_of(r: dict[str, Any]) -> dict[str, Any]:
    """The hook's cost per entry: the median over rounds of hooked minus plain, both per call."""
    diffs = [h - p for h, p in zip(r["hooked_ns"], r["plain_ns"], strict=False)]
    return {"operation": r["operation"], "rounds": r["rounds"], "calls": r["calls"],
            "plain_ns": statistics.median(r["plain_ns"]),
            "hooked_ns": statistics.median(r["hooked_ns"]),
            "per_entry_ns": max(0.0, statistics.median(diffs)), "slow_ns": r["slow_ns"],
            "exit_ns": r["exit_ns"]}  # fmt: skip


def object_row(s: ObjectUse, pattern: str) -> dict[str, Any]:
    return {"kind": "object", "pid": s.pid, "object": s.label, "cls": s.cls,
            "site": site_key(s.stack), "pattern": pattern, "unsafe": pattern == "shared",
            "created_by": s.created_by, "stack": s.stack, "entries": s.entries,
            "overlaps": s.overlaps, "ahead": s.ahead, "meetings": s.meetings,
            "interleaves": s.interleaves, "waited_s": s.waited_ns / 1e9,
            "call_waited_s": s.call_waited_ns / 1e9, "switches": s.switches,
            "within_call": s.within_call, "ended": s.ended or "with its process",
            "threads": _thread_rows(s), "examples": s.examples,
            "meeting_examples": s.meeting_examples,
            "interleave_examples": s.interleave_examples,
            "stalls": s.stalls}  # fmt: skip


def _thread_rows(s: ObjectUse) -> list[dict[str, Any]]:
    """Every thread that entered, busiest first; the stacks of the first few only."""
    threads = sorted(s.threads.values(), key=lambda t: -t.entries)
    return [vars(t) if i < STACKS_PER_OBJECT else {**vars(t), "stack": [], "holders": []}
            for i, t in enumerate(threads)]  # fmt: skip


def site_rows(
    objects: Iterable[ObjectUse], found: dict[tuple[int, str], str]
) -> list[dict[str, Any]]:
    """One row per creation site and class (across processes): its objects' patterns, and
    the example a finding shows (the object with the most overlaps, its creation stack and
    the first overlaps seen at it)."""
    by_site: dict[tuple[str, str], list[ObjectUse]] = defaultdict(list)
    for s in objects:
        by_site[site_key(s.stack), s.cls].append(s)
    rows = []
    for (key, cls), group in by_site.items():
        counted = Counter(found[s.pid, s.label] for s in group)
        unsafe = [s for s in group if found[s.pid, s.label] == "shared"]
        pattern = "shared" if unsafe else counted.most_common(1)[0][0]
        first = max(unsafe, key=lambda s: s.overlaps) if unsafe else group[0]
        rows.append({"kind": "site", "site": key, "cls": cls, "pattern": pattern,
                     "unsafe": bool(unsafe), "patterns": dict(counted), "objects": len(group),
                     "pids": sorted({s.pid for s in group}),
                     "threads": len({(s.pid, t) for s in group for t in s.threads}),
                     "entries": sum(s.entries for s in group),
                     "overlaps": sum(s.overlaps for s in group),
                     "meetings": sum(s.meetings for s in group),
                     "interleaves": sum(s.interleaves for s in group), "stack": first.stack,
                     "example_object": [first.pid, first.label],
                     "stalls": list(dict.fromkeys(x for s in group
                                                  for x in s.stalls))})  # fmt: skip
    return sorted(rows, key=lambda r: (not r["unsafe"], -r["overlaps"], -r["objects"]))


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
