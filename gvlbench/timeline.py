"""A lock timeline: where each thread's time went, one track per thread (the model).

gvlbench's tables say how much releasing the lock paid; a timeline says where each thread
waited. A measuring child records raw events (binding/timeline.py): Python's timestamps
(`time.perf_counter_ns()`, taken once the lock is held) and the native shim's
(CLOCK_MONOTONIC, the same clock on Linux, taken as a call returns or a callback is entered,
before the lock is asked for: gvlbench/native/guard.c). `spans_of` turns one thread's events
into states with no gaps or overlaps; a sibling thread's states come from the kernel's
accounting of its time (`sibling_spans`). A child answers with `Part`s; the harness writes
them as trace-event JSON (the format Perfetto and chrome://tracing open: `to_trace_events`),
one track per thread, and this module reads the file back (`load`) for the summaries, the
picture and the tests: nothing downstream reads a child's answer instead of the file.

Pure: it loads no engine, so both sides of the pipe (and the report) import it.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gvlbench.errors import UserError

SCHEMA = 1


@dataclass(frozen=True)
class State:
    """One state a thread can be in: its name in the file (`cat`), its label, its colour
    in the picture, and whether it is a wait for the interpreter lock."""

    name: str
    label: str
    color: str
    lock_wait: bool = False


STATES: dict[str, State] = {
    s.name: s
    for s in (
        State("wasm-released", "inside Wasm, the GIL released", "#4c9be8"),
        State("wasm-held", "inside Wasm, the GIL held", "#d9534f"),
        State("wasm", "inside Wasm (free-threaded: no GIL)", "#5cb85c"),
        State("call", "inside the call (the lock wait not measured)", "#9b8fc7"),
        State("wait-return", "waiting for the GIL after a Wasm call returned", "#f0ad4e",
              lock_wait=True),
        State("wait-callback", "waiting for the GIL to enter a host callback", "#e8730c",
              lock_wait=True),
        State("callback", "running a host callback (Python)", "#8e44ad"),
        State("python", "Python between calls", "#b0b0b0"),
        State("guard-wait", "waiting for the Store guard", "#2c3e50"),
        State("running", "running Python", "#7fbf7f"),
        State("wait-lock", "waiting for the GIL", "#f5c242", lock_wait=True),
        State("descheduled", "runnable, not run by the OS", "#e0e0e0"),
        State("asleep", "asleep (free-threaded: no GIL to wait for)", "#c9b458"),
    )
}  # fmt: skip
LOCK_WAITS = tuple(s.name for s in STATES.values() if s.lock_wait)
REFUSED = "refused by the Store guard"

# The raw events a child records: the shim's kinds (guard.c's TL_*) and Python's own
CALL, CALLBACK, GUARD_WAIT, NATIVE_REFUSED = 1, 2, 3, 4
PY_CALL, PY_CALLBACK, PY_REFUSED = 11, 12, 13
Event = tuple[int, int, int, str]  # kind, start_ns, end_ns, what


@dataclass(frozen=True)
class Track:
    """One thread's states: [state, start_ns, end_ns] in time order, no gaps inside a
    stretch it was recorded, and instants [what, t_ns] (refusals by a Store guard)."""

    group: str  # the key of its Group within its Part
    name: str
    tid: int
    role: str  # caller (calls Wasm) | sibling (pure Python beside a caller)
    spans: list[list[Any]]
    instants: list[list[Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Group:
    """Threads recorded together: one (mode, threads) cell of a paired speedup, a caller
    with its sibling, a race trial, a traced program."""

    key: str
    label: str
    mode: str
    threads: int = 1


@dataclass(frozen=True)
class Part:
    """What one child recorded: `rounds` are [group, index, start_ns, end_ns] (a speedup
    cell's rounds); `windows` [group, start_ns, end_ns, progress, alone_running] (the
    stretch a progress sample measured, its ratio, and the share of the window its rate
    alone was counted in that the OS ran the sibling); `unmeasured` says which spans could
    not be measured here and why; `dropped` counts events past a log's capacity."""

    groups: list[Group]
    tracks: list[Track]
    rounds: list[list[Any]] = field(default_factory=list)
    windows: list[list[Any]] = field(default_factory=list)
    unmeasured: list[str] = field(default_factory=list)
    dropped: int = 0


# -- one thread's events as states ----------------------------------------------------------


def wasm_state(mode: str) -> str:
    """The state of a thread inside Wasm in `mode`."""
    return {"held": "wasm-held", "free-threaded": "wasm"}.get(mode, "wasm-released")


def _wait(state: str, mode: str) -> str:
    """A measured stretch between the native side and Python: a wait for the lock, except
    on a free-threaded build, where there is no lock and it is Python's own glue."""
    return "python" if mode == "free-threaded" else state


@dataclass
class _Node:
    kind: int
    start: int
    end: int
    what: str
    children: list[_Node] = field(default_factory=list)


def _tree(events: Iterable[Event]) -> list[_Node]:
    """Events nested by time: a call inside the Python that made it, a callback inside the
    call, the callback's Python inside the callback. An event that is not inside the one
    still open is clamped into it (a clock read a few ns apart), never dropped."""
    roots: list[_Node] = []
    stack: list[_Node] = []
    for kind, start, end, what in sorted(events, key=lambda e: (e[1], -e[2], e[0])):
        node = _Node(kind, start, max(start, end), what)
        while stack and stack[-1].end <= node.start:
            stack.pop()
        if stack:
            parent = stack[-1]
            node.end = min(node.end, parent.end)
            parent.children.append(node)
        else:
            roots.append(node)
        stack.append(node)
    return roots


def _states(node: _Node, mode: str) -> tuple[str, str, str]:
    """(before the first child, between children, after the last) for a node's own time."""
    kinds = {c.kind for c in node.children}
    wasm = wasm_state(mode)
    if node.kind == PY_CALL:
        if CALL in kinds:  # measured: the native call inside, the lock wait after it
            return "python", "python", _wait("wait-return", mode)
        return "call", "call", "call"
    if node.kind == CALL:
        return wasm, wasm, wasm
    if node.kind == CALLBACK:
        if PY_CALLBACK in kinds:
            return _wait("wait-callback", mode), "callback", wasm
        return "callback", "callback", "callback"
    if node.kind == GUARD_WAIT:
        return "guard-wait", "guard-wait", "guard-wait"
    return "callback", "callback", "callback"  # PY_CALLBACK, and a callback's own calls


def _emit(node: _Node, mode: str, out: list[list[Any]]) -> None:
    head, gap, tail = _states(node, mode)
    cursor = node.start
    children = [c for c in node.children if c.kind not in (NATIVE_REFUSED, PY_REFUSED)]
    for i, child in enumerate(children):
        _add(out, head if i == 0 else gap, cursor, child.start)
        _emit(child, mode, out)
        cursor = max(cursor, child.end)
    _add(out, tail if children else head, cursor, node.end)


def _add(out: list[list[Any]], state: str, start: int, end: int) -> None:
    if end <= start:
        return
    if out and out[-1][0] == state and out[-1][2] == start:
        out[-1][2] = end
    else:
        out.append([state, start, end])


def spans_of(events: Iterable[Event], mode: str) -> tuple[list[list[Any]], list[list[Any]]]:
    """One thread's events as ([state, start_ns, end_ns] spans, [what, t_ns] instants).

    Between two top-level calls the thread ran Python; inside a Python call, before the
    native entry is Python's glue and after the native return is the wait for the lock
    (`wait-return`, measured from the native return to Python's timestamp); inside a
    callback, from the native entry to Python's first timestamp is `wait-callback`. A call
    with no native events (no shim here, or a binding it does not time) is one `call`."""
    events = list(events)
    instants = [[REFUSED, e[1]] for e in events if e[0] in (NATIVE_REFUSED, PY_REFUSED)]
    roots = _tree(e for e in events if e[0] not in (NATIVE_REFUSED, PY_REFUSED))
    out: list[list[Any]] = []
    for i, root in enumerate(roots):
        if i:
            _add(out, "python", roots[i - 1].end, root.start)
        _emit(root, mode, out)
    return out, sorted(instants, key=lambda x: x[1])


# A sibling's look (its wall clock, CPU clock and run delay) takes about a microsecond between
# its first read and its last: a remainder of an interval shorter than this is the reads'
# spread, not a wait (without it a running sibling read as hundreds of sub-us waits a call).
LOOK_NS = 2_000


def sibling_spans(ticks: Sequence[Sequence[int]], start_ns: int, end_ns: int,
                  mode: str = "") -> list[list[Any]]:  # fmt: skip
    """A pure-Python sibling's states from its own ticks (wall_ns, on-CPU ns, run-queue ns, ...),
    within [start_ns, end_ns] (the ticks on either side of it bound its first and last
    interval).

    Between two ticks the kernel measured how long the thread ran (its CPU clock) and how
    long it was runnable but not run (schedstat's run delay); the rest it slept, and a
    thread that does nothing but count sleeps only to wait for the GIL (on a free-threaded
    build, `mode`, there is none: that time is `asleep`). Consecutive
    intervals with the same largest part form a run, drawn as its running, waiting and
    descheduled time in that order: the totals are the kernel's, the order within a run
    (one tick, ~40 us, where they change) is not."""
    before = [t for t in ticks if t[0] < start_ns][-1:]
    after = [t for t in ticks if t[0] > end_ns][:1]
    inside = before + [t for t in ticks if start_ns <= t[0] <= end_ns] + after
    runs: list[list[Any]] = []  # [dominant, start, end, running, waiting, descheduled]
    for (w0, c0, q0, *_), (w1, c1, q1, *_) in itertools.pairwise(inside):
        wall = w1 - w0
        if wall <= 0:
            continue
        cpu, queued = max(0, c1 - c0), max(0, q1 - q0)
        if cpu + queued > wall:  # reads a few us apart: scaled into the interval
            cpu, queued = cpu * wall // (cpu + queued), queued * wall // (cpu + queued)
        slept = wall - cpu - queued
        if slept < LOOK_NS:  # within the spread of one look's reads: not a wait
            cpu, slept = cpu + slept, 0
        parts = {"running": cpu, "wait-lock": slept, "descheduled": queued}
        dominant = max(parts, key=lambda k: parts[k])
        if runs and runs[-1][0] == dominant and runs[-1][2] == w0:
            run = runs[-1]
            run[2] = w1
        else:
            run = [dominant, w0, w1, 0, 0, 0]
            runs.append(run)
        run[3] += parts["running"]
        run[4] += parts["wait-lock"]
        run[5] += parts["descheduled"]
    out: list[list[Any]] = []
    slept = "asleep" if mode == "free-threaded" else "wait-lock"
    for _, start, end, running, waiting, queued in runs:
        cursor = start
        for state, length in ((slept, waiting), ("descheduled", queued),
                              ("running", running)):  # fmt: skip
            stop = end if state == "running" else min(end, cursor + length)
            _add(out, state, cursor, stop)
            cursor = stop
    return clip(out, start_ns, end_ns)


# -- the file: trace-event JSON --------------------------------------------------------------

ROUNDS_TID = 1 << 30  # the rounds' own track in each group (no kernel thread id is this big)


@dataclass
class Timeline:
    """A timeline file's contents: every part's groups and tracks, each group a process
    (pid) of its own in the file, and what the harness adds (overhead, the command)."""

    command: str = ""
    scenario: str = ""
    groups: list[dict[str, Any]] = field(default_factory=list)  # pid, key, label, mode, threads
    tracks: list[dict[str, Any]] = field(default_factory=list)  # pid, tid, name, role, spans
    rounds: list[list[Any]] = field(default_factory=list)  # pid, index, start_ns, end_ns
    windows: list[list[Any]] = field(default_factory=list)  # pid, start, end, ratio, alone
    unmeasured: list[str] = field(default_factory=list)
    overhead: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0

    def add(self, part: Part, prefix: str = "") -> None:
        """A child's part, each of its groups a new pid ("prefix: label")."""
        pids = {}
        for group in part.groups:
            pid = len(self.groups) + 1
            pids[group.key] = pid
            label = f"{prefix}: {group.label}" if prefix else group.label
            self.groups.append({"pid": pid, "key": group.key, "label": label,
                                "mode": group.mode, "threads": group.threads})  # fmt: skip
        for t in part.tracks:
            self.tracks.append({"pid": pids[t.group], "tid": t.tid, "name": t.name,
                                "role": t.role, "spans": [list(s) for s in t.spans],
                                "instants": [list(i) for i in t.instants]})  # fmt: skip
        self.rounds += [[pids[g], i, s, e] for g, i, s, e in part.rounds if g in pids]
        self.windows += [[pids[w[0]], *w[1:]] for w in part.windows if w[0] in pids]
        self.unmeasured += [u for u in part.unmeasured if u not in self.unmeasured]
        self.dropped += part.dropped

    def group(self, pid: int) -> dict[str, Any]:
        return next(g for g in self.groups if g["pid"] == pid)


def _us(ns: int, origin: int) -> float:
    return round((ns - origin) / 1000, 3)


def _origin(tl: Timeline) -> int:
    starts = [s[1] for t in tl.tracks for s in t["spans"]] + [r[2] for r in tl.rounds]
    return min(starts, default=0)


def to_trace_events(tl: Timeline) -> dict[str, Any]:
    """The timeline as trace-event JSON: a process per group, a thread per track, a
    complete event ("X") per span, an instant ("i") per refusal, and the rounds on a track
    of their own. Perfetto stops reading at a top-level key it does not know, so gvlbench's
    own data (groups, rounds, windows, overhead) travels in `otherData`, after the events."""
    origin = _origin(tl)
    events: list[dict[str, Any]] = []
    for g in tl.groups:
        events.append({"ph": "M", "name": "process_name", "pid": g["pid"], "tid": 0,
                       "args": {"name": g["label"]}})  # fmt: skip
        events.append({"ph": "M", "name": "process_sort_index", "pid": g["pid"], "tid": 0,
                       "args": {"sort_index": g["pid"]}})  # fmt: skip
    for t in tl.tracks:
        pid, tid = t["pid"], t["tid"]
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                       "args": {"name": t["name"]}})  # fmt: skip
        for state, start, end in t["spans"]:
            events.append({"ph": "X", "name": STATES[state].label, "cat": state, "pid": pid,
                           "tid": tid, "ts": _us(start, origin),
                           "dur": round((end - start) / 1000, 3)})  # fmt: skip
        for what, at in t.get("instants", ()):
            events.append({"ph": "i", "s": "t", "name": what, "cat": "guard-refused",
                           "pid": pid, "tid": tid, "ts": _us(at, origin)})  # fmt: skip
    for pid in sorted({r[0] for r in tl.rounds}):
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": ROUNDS_TID,
                       "args": {"name": "rounds"}})  # fmt: skip
    for pid, index, start, end in tl.rounds:
        events.append({"ph": "X", "name": f"round {index}", "cat": "round", "pid": pid,
                       "tid": ROUNDS_TID, "ts": _us(start, origin),
                       "dur": round((end - start) / 1000, 3)})  # fmt: skip
    ours = {
        "schema": SCHEMA, "command": tl.command, "scenario": tl.scenario,
        "clock": "CLOCK_MONOTONIC", "origin_ns": origin, "groups": tl.groups,
        "threads": [{k: t[k] for k in ("pid", "tid", "name", "role")} for t in tl.tracks],
        "rounds": [[p, i, _us(s, origin), _us(e, origin)] for p, i, s, e in tl.rounds],
        "windows": [[p, _us(s, origin), _us(e, origin), *rest] for p, s, e, *rest in tl.windows],
        "unmeasured": tl.unmeasured, "overhead": tl.overhead, "dropped": tl.dropped,
        "states": {s.name: s.label for s in STATES.values()},
    }  # fmt: skip
    return {"displayTimeUnit": "ms", "traceEvents": events, "otherData": {"gvlbench": ours}}


class TimelineFileError(UserError):
    kind = "timeline file"


def load(path: Path) -> Timeline:
    """A timeline file read back: tracks rebuilt from its events (ns from its origin)."""
    try:
        doc = json.loads(Path(path).read_text())
        ours = doc["otherData"]["gvlbench"]
        events = doc["traceEvents"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TimelineFileError(f"{path}: not a gvlbench timeline ({exc})") from None
    if ours.get("schema") != SCHEMA:
        raise TimelineFileError(f"{path}: timeline schema {ours.get('schema')!r}, not {SCHEMA}")
    return _from_events(ours, events)


def _from_events(ours: dict[str, Any], events: list[dict[str, Any]]) -> Timeline:
    def ns(us: float) -> int:
        return round(us * 1000)

    tracks = {(t["pid"], t["tid"]): {**t, "spans": [], "instants": []} for t in ours["threads"]}
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key not in tracks:
            continue
        if e.get("ph") == "X":
            tracks[key]["spans"].append([e["cat"], ns(e["ts"]), ns(e["ts"] + e["dur"])])
        elif e.get("ph") == "i":
            tracks[key]["instants"].append([e["name"], ns(e["ts"])])
    return Timeline(
        command=ours.get("command", ""), scenario=ours.get("scenario", ""),
        groups=ours["groups"], tracks=list(tracks.values()),
        rounds=[[p, i, ns(s), ns(e)] for p, i, s, e in ours.get("rounds", [])],
        windows=[[p, ns(s), ns(e), *rest] for p, s, e, *rest in ours.get("windows", [])],
        unmeasured=ours.get("unmeasured", []), overhead=ours.get("overhead", []),
        dropped=ours.get("dropped", 0),
    )  # fmt: skip


# -- summaries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadSummary:
    """Where one thread's recorded time went (as gvl_timing splits it): the share of each
    state, and its waits for the lock: how many, the median and the worst."""

    pid: int
    group: str
    mode: str
    threads: int
    thread: str
    role: str
    total_s: float
    shares: dict[str, float]
    waits: int
    wait_median_s: float | None
    wait_worst_s: float | None


def clip(spans: Iterable[Sequence[Any]], start: int, end: int) -> list[list[Any]]:
    """The spans' parts that fall within [start, end]."""
    return [[s, max(a, start), min(b, end)] for s, a, b in spans if b > start and a < end]


def shares(spans: Iterable[Sequence[Any]]) -> dict[str, float]:
    """Each state's share of the spans' total time (states absent: left out)."""
    totals: dict[str, int] = {}
    for state, start, end in spans:
        totals[state] = totals.get(state, 0) + (end - start)
    whole = sum(totals.values())
    return {s: t / whole for s, t in totals.items()} if whole else {}


def summarize(tl: Timeline) -> list[ThreadSummary]:
    """One summary per track, in the file's order."""
    out = []
    for t in tl.tracks:
        g = tl.group(t["pid"])
        spans = t["spans"]
        waits = [(b - a) / 1e9 for s, a, b in spans if s in LOCK_WAITS]
        total = sum(b - a for _, a, b in spans) / 1e9
        out.append(ThreadSummary(g["pid"], g["label"], g["mode"], g["threads"], t["name"],
                                 t["role"], total, shares(spans), len(waits),
                                 statistics.median(waits) if waits else None,
                                 max(waits, default=None)))  # fmt: skip
    return out


@dataclass(frozen=True)
class Window:
    """One progress sample's window: the sibling's states in it, the progress ratio measured
    over it, the share of its rate-alone window that the OS ran it, and its speed while it
    ran (steps per CPU second, in the window over alone)."""

    shares: dict[str, float]
    progress: float
    alone_running: float
    speed: float = 1.0

    @property
    def progress_from_states(self) -> float:
        """The ratio the sibling's states predict: progress is (steps in the window / window)
        over (steps alone / alone window), so its running share over its running share alone,
        times its speed while running over its speed alone. The lock and the OS decide the
        first factor (the states); the machine the second (another thread on the same
        physical core, the clock)."""
        running = self.shares.get("running", 0.0)
        return running / self.alone_running * self.speed if self.alone_running else 0.0

    @property
    def lock_wait_from_progress(self) -> float:
        """The other way round: the share of the window the sibling waited for the lock that
        its progress implies, once the OS's share and its speed are taken out."""
        if not self.speed:
            return 1 - self.shares.get("descheduled", 0.0)
        ran = self.progress * self.alone_running / self.speed
        return 1 - self.shares.get("descheduled", 0.0) - ran


def windows(tl: Timeline, pid: int, role: str = "sibling") -> list[Window]:
    """Each progress window of group `pid`, set against the `role` thread's states in it."""
    track = next((t for t in tl.tracks if t["pid"] == pid and t["role"] == role), None)
    if track is None:
        return []
    return [Window(shares(clip(track["spans"], s, e)), ratio, alone, *speed)
            for p, s, e, ratio, alone, *speed in tl.windows if p == pid]  # fmt: skip
