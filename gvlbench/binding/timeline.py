"""The child's side of a timeline: every call into Wasm, timed on both sides of the lock.

A call is recorded twice. Python takes `time.perf_counter_ns()` just before the foreign call
and again as soon as it returns, with the lock held; the native shim (guard.c,
`gvlbench_tl_wasmtime_func_call`) takes CLOCK_MONOTONIC as the call enters and as it returns,
before ctypes asks for the lock back. From the native return to Python's timestamp the thread
waited for the lock (`wait-return`): measured, on the same clock (`perf_counter` is
`clock_gettime(CLOCK_MONOTONIC)` on Linux: `check_clock`). A host callback likewise: the shim's
`gvlbench_tl_callback` is registered in front of the Python trampoline and times the entry
before ctypes' thunk takes the lock; the trampoline's first line takes Python's. A held call
waits in the same places: CPython hands the lock over at the eval breaker, which it checks right
after a foreign call returns and at the entry of the callback's Python function, both inside
the measured stretches. A Store guard's waits (the mutex design) and refusals are logged by the
shim as they happen, on whichever entry point.

What this changes while recording: the calls go through the timed function (two clock reads
and a log entry in C, two in Python); calls that do not record (a speedup's untimed cells) use
their own functions, so the timeline's cost is measured against them round by round.

Where the shim cannot be built (no C compiler), calls are drawn whole (`call`: the wait after
the call inside it) and the part says which spans it could not measure.
"""

from __future__ import annotations

import ctypes
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from gvlbench import timeline as model
from gvlbench.binding import internals, invoke
from gvlbench.errors import UnavailableError
from gvlbench.protocol import Mode

# Events a thread's log keeps between two drains, in the shim (32 bytes each) and in Python
# (24): past them a round's calls go unrecorded, counted as dropped (a call of a few us makes
# thousands a round; spin's and mark's make one or two), and the thread is drawn up to the
# last event both sides kept
CAPACITY = 1 << 13


class _Log(ctypes.Structure):
    _fields_ = [("tid", ctypes.c_long), ("count", ctypes.c_size_t),
                ("capacity", ctypes.c_size_t), ("dropped", ctypes.c_ulong),
                ("events", ctypes.c_void_p), ("next", ctypes.c_void_p)]  # fmt: skip


class _Event(ctypes.Structure):
    _fields_ = [("start", ctypes.c_uint64), ("end", ctypes.c_uint64), ("what", ctypes.c_char_p),
                ("kind", ctypes.c_uint32), ("pad", ctypes.c_uint32)]  # fmt: skip


def check_clock() -> str | None:
    """Why Python's and the shim's timestamps cannot be compared here, or None: they can
    when perf_counter is CLOCK_MONOTONIC (Linux)."""
    impl = time.get_clock_info("perf_counter").implementation
    if "CLOCK_MONOTONIC" in impl and "RAW" not in impl:
        return None
    return f"time.perf_counter is {impl}, not the shim's CLOCK_MONOTONIC"


@dataclass(frozen=True)
class _Shim:
    stock: dict[Mode, Any]  # gvlbench_tl_wasmtime_func_call, wasmtime-py's signature
    fast: dict[Mode, Any]  # the same, no argtypes: for prepared ctypes arguments
    callback: int  # gvlbench_tl_callback's address
    set_callback: Any
    start: Any
    stop: Any
    first: Any


@cache
def _shim() -> _Shim:
    """The shim's timeline entry points; UnavailableError (one line) where it cannot be had."""
    from gvlbench.binding import native_guard

    reason = check_clock()
    if reason:
        raise UnavailableError(reason)
    libs = native_guard._shim().libs  # built, loaded and handed libwasmtime's functions
    restype, argtypes = internals.func_call_signature()
    fn = native_guard._fn
    lib = libs[Mode.RELEASED]
    return _Shim(
        stock={m: fn(h, "gvlbench_tl_wasmtime_func_call", restype, argtypes)
               for m, h in libs.items()},
        fast={m: fn(h, "gvlbench_tl_wasmtime_func_call", ctypes.c_void_p, None)
              for m, h in libs.items()},
        callback=ctypes.cast(lib.gvlbench_tl_callback, ctypes.c_void_p).value or 0,
        set_callback=fn(lib, "gvlbench_tl_set_callback", None, [ctypes.c_void_p]),
        start=fn(lib, "gvlbench_tl_start", None, [ctypes.c_size_t]),
        stop=fn(lib, "gvlbench_tl_stop", None, []),
        first=fn(lib, "gvlbench_tl_first", ctypes.c_void_p, []),
    )  # fmt: skip


class Recorder:
    """The process's recording: each thread's Python events, and the shim's when it is here.

    `recording` is on only around what is measured (a round, a progress sample), so the
    threads' states are drawn for exactly that; `drain` turns what was recorded since the last
    drain into tracks."""

    def __init__(self) -> None:
        self.recording = False
        self.unmeasured: list[str] = []
        self.dropped = 0
        self._local = threading.local()
        self._logs: dict[int, array[int]] = {}
        self.names: dict[int, str] = {}  # each thread that recorded, by kernel thread id
        try:
            self.shim: _Shim | None = _shim()
        except UnavailableError as exc:
            self.shim = None
            self.unmeasured.append(
                f"not measured here ({exc}): the waits for the lock after a call and before a "
                "host callback, and the Store guard's waits; each call is drawn whole"
            )  # fmt: skip
        self._trampoline: Any = None

    # -- the hot path ------------------------------------------------------------------------

    def _log(self) -> array[int]:
        try:
            return self._local.log  # type: ignore[no-any-return]
        except AttributeError:
            log = self._local.log = array("q")
            tid = threading.get_native_id()
            self._logs[tid] = log
            self.names[tid] = threading.current_thread().name
            return log

    def note(self, kind: int, start: int, end: int) -> None:
        """One Python event of this thread (dropped past PYTHON_CAPACITY, and counted)."""
        log = self._log()
        if len(log) < 3 * CAPACITY:
            log.extend((kind, start, end))
        else:
            self.dropped += 1

    def refused(self) -> None:
        """A refusal by gvlbench's Python Store guard, now (the shim logs its own)."""
        if self.recording:
            now = time.perf_counter_ns()
            self.note(model.PY_REFUSED, now, now)

    def recorded(self, fn: Any) -> Callable[..., Any]:
        """`fn` (a foreign function) with Python's timestamps on each side of it."""
        ns, note = time.perf_counter_ns, self.note

        def call(*args: Any) -> Any:
            start = ns()
            result = fn(*args)
            note(model.PY_CALL, start, ns())
            return result

        return call

    # -- where calls and callbacks go through the timed functions ------------------------------

    def timed_call(self, mode: Mode, fast: bool) -> Any:
        """The call the recorder times: the shim's timed wasmtime_func_call for `mode`'s handle
        (`fast`: for prepared ctypes arguments) wrapped in Python's timestamps; without the
        shim, the library's own, wrapped likewise (drawn whole)."""
        loader = invoke.effective_mode(mode)
        if self.shim is not None:
            return self.recorded((self.shim.fast if fast else self.shim.stock)[loader])
        return self.recorded(invoke.library("wasmtime_func_call", loader) if fast
                             else invoke.FUNC_CALL[loader])  # fmt: skip

    def use_stock(self, mode: Mode) -> None:
        """Point wasmtime-py's own binding of wasmtime_func_call at the timed call (what
        Func.__call__ calls: the stock path, and any --stmt)."""
        internals.set_func_call(self.timed_call(mode, fast=False))

    def install_trampoline(self) -> None:
        """Host functions defined from now on are entered through the shim's timed callback
        and a trampoline that takes Python's timestamp first thing."""
        if self._trampoline is not None:
            internals.set_host_trampoline(self._trampoline)
            return
        body, ns, note = internals.trampoline_body(), time.perf_counter_ns, self.note
        recorder = self

        def timed(idx, caller, params, nparams, results, nresults):  # type: ignore[no-untyped-def]
            start = ns()  # the first line: the lock is held (taken by ctypes' thunk)
            try:
                return body(idx, caller, params, nparams, results, nresults)
            finally:
                if recorder.recording:
                    note(model.PY_CALLBACK, start, ns())

        kind = internals.host_callback_type()
        python = kind(timed)
        if self.shim is None:
            self._trampoline = python
        else:
            self.shim.set_callback(ctypes.cast(python, ctypes.c_void_p))
            self._trampoline = kind(self.shim.callback)
        self._keep = python  # the thunk must outlive every function registered with it
        internals.set_host_trampoline(self._trampoline)

    @contextmanager
    def building(self, mode: Mode) -> Iterator[None]:
        """Instances made inside call the timed function on the prepared paths and enter host
        callbacks through the timed trampoline."""
        before = internals.host_trampoline()
        invoke.set_prepared_calls({invoke.effective_mode(mode): self.timed_call(mode, True)})
        self.install_trampoline()
        try:
            yield
        finally:
            invoke.set_prepared_calls(None)
            internals.set_host_trampoline(before)

    # -- on, off, and what was recorded --------------------------------------------------------

    def start(self) -> None:
        """Record from now on (the logs emptied)."""
        for log in self._logs.values():
            del log[:]
        if self.shim is not None:
            self.shim.start(CAPACITY)
        self.recording = True

    def stop(self) -> None:
        self.recording = False
        if self.shim is not None:
            self.shim.stop()

    def events(self, tid: int) -> list[model.Event]:
        """Thread `tid`'s events since `start`: Python's and the shim's. Where either side's
        log filled up, both are cut where the first one stopped, so no call is half drawn."""
        flat = self._logs.get(tid, array("q")).tolist()
        python: list[model.Event] = [(flat[i], flat[i + 1], flat[i + 2], "")
                                     for i in range(0, len(flat), 3)]  # fmt: skip
        native, dropped = self._native(tid)
        if dropped or len(python) >= CAPACITY:
            self.dropped += dropped
            last = min(max((e[2] for e in side), default=0) for side in (python, native))
            return [e for e in python + native if e[2] <= last]
        return python + native

    def threads(self) -> list[int]:
        """Every thread with an event since `start`, Python's or the shim's (a thread that
        only waited for a Store guard, in an entry point the recorder does not time, has
        only the shim's)."""
        tids = {tid for tid, log in self._logs.items() if log}
        address = self.shim.first() if self.shim is not None else None
        while address:
            log = _Log.from_address(address)
            if log.count:
                tids.add(log.tid)
            address = log.next
        return sorted(tids)

    def _native(self, tid: int) -> tuple[list[model.Event], int]:
        out: list[model.Event] = []
        dropped = 0
        address = self.shim.first() if self.shim is not None else None
        while address:
            log = _Log.from_address(address)
            if log.tid == tid and log.count:
                dropped += log.dropped
                for e in (_Event * log.count).from_address(log.events):
                    out.append((e.kind, e.start, e.end, (e.what or b"").decode()))
            address = log.next
        return out, dropped

    def track(self, group: str, name: str, tid: int, mode: Mode,
              role: str = "caller") -> model.Track:  # fmt: skip
        spans, instants = model.spans_of(self.events(tid), str(mode))
        return model.Track(group, name, tid, role, spans, instants)

    def part(self, groups: Sequence[model.Group], tracks: Sequence[model.Track],
             rounds: Sequence[list[Any]] = (), windows: Sequence[list[Any]] = ()
             ) -> model.Part:  # fmt: skip
        return model.Part(list(groups), list(tracks), list(rounds), list(windows),
                          list(self.unmeasured), self.dropped)  # fmt: skip


def sibling_track(group: str, sibling: Any, start_ns: int, end_ns: int,
                  mode: Mode) -> model.Track:  # fmt: skip
    """The sibling's states in [start_ns, end_ns] from its own ticks (measure.Sibling made
    with `own_ticks`)."""
    spans = model.sibling_spans(sibling.own_ticks(), start_ns, end_ns, str(mode))
    return model.Track(group, "sibling", sibling.native_id, "sibling", spans)


def merged(tracks: Sequence[model.Track]) -> list[model.Track]:
    """Tracks of the same thread and group (one per round or sample) as one track each."""
    out: dict[tuple[str, int], model.Track] = {}
    for t in tracks:
        key = (t.group, t.tid)
        if key in out:
            have = out[key]
            out[key] = model.Track(t.group, t.name, t.tid, t.role, have.spans + t.spans,
                                   have.instants + t.instants)  # fmt: skip
        else:
            out[key] = t
    return list(out.values())


class ProgressTimeline:
    """A progress measurement's timeline: the caller's states during each measured call and
    its sibling's (measure.Sibling made with `own_ticks`), with the window the progress
    ratio was measured over and the ratio, so a reader can set one against the other."""

    def __init__(self, recorder: Recorder, group: model.Group, sibling: Any, mode: Mode):
        self.recorder, self.group, self.sibling, self.mode = recorder, group, sibling, mode
        self.caller = threading.get_native_id()
        self.tracks: list[model.Track] = []
        self.windows: list[list[Any]] = []

    def wrap(self, call: Callable[[], Any]) -> Callable[[], Any]:
        """`call`, recorded (each call is one progress sample)."""
        recorder = self.recorder

        def recorded() -> Any:
            recorder.start()
            try:
                return call()
            finally:
                recorder.stop()

        return recorded

    def observe(self, start_s: float, end_s: float, ratio: float) -> None:
        """After each sample: the caller's track, the sibling's over the same stretch, and
        the window the ratio was measured over."""
        caller = self.recorder.track(self.group.key, "caller", self.caller, self.mode)
        self.tracks.append(caller)
        if caller.spans:
            first, last = caller.spans[0][1], caller.spans[-1][2]
            self.sibling.own_tick_after(last)
            self.tracks.append(sibling_track(self.group.key, self.sibling, first, last,
                                             self.mode))  # fmt: skip
        start, end = round(start_s * 1e9), round(end_s * 1e9)
        self.windows.append([self.group.key, start, end, ratio, self.sibling.alone_running,
                             self._speed(start, end)])  # fmt: skip

    def _speed(self, start: int, end: int) -> float:
        """The sibling's steps per CPU second over the window, over those alone (1 when it
        hardly ran in the window: no speed to measure)."""
        ticks = [t for t in self.sibling.own_ticks() if start <= t[0] <= end]
        if len(ticks) < 2 or not self.sibling.alone_speed:
            return 1.0
        (_, c0, _, n0), (_, c1, _, n1) = ticks[0], ticks[-1]
        if c1 - c0 < 1_000_000:  # under a millisecond of running: too little to time
            return 1.0
        return (n1 - n0) / (c1 - c0) * 1e9 / self.sibling.alone_speed

    def part(self) -> model.Part:
        return self.recorder.part([self.group], merged(self.tracks), windows=self.windows)


class ProcessTimeline:
    """A whole program's threads, recorded from now until it exits: what `trace --timeline`
    loads into a traced program (after any patch: the timed call goes through a native
    Store guard the patch put in place). Each process writes its part, as JSON, to `out`."""

    def __init__(self, out: str, mode: Mode, label: str) -> None:
        self.out, self.mode, self.label = out, mode, label
        self.recorder = Recorder()
        self.recorder.install_trampoline()  # host functions defined from now on are timed
        self.recorder.use_stock(mode)
        self.recorder.start()

    def part(self) -> model.Part:
        """Every thread recorded so far, the process one group."""
        rec = self.recorder
        tracks = [rec.track("program", rec.names.get(tid, f"thread {tid}"), tid, self.mode)
                  for tid in rec.threads()]  # fmt: skip
        group = model.Group("program", self.label, str(self.mode), len(tracks))
        return rec.part([group], tracks)

    def finish(self) -> None:
        """Stop recording and write the part (at the program's exit)."""
        import json

        from gvlbench.answers import to_wire

        self.recorder.stop()
        with open(self.out, "w") as fh:
            json.dump(to_wire(self.part()), fh)


def call_cost_ns(recorder: Recorder, rounds: int = 10, calls: int = 400) -> list[float]:
    """What recording adds to one call, in ns, once per round: a Wasm call of a few steps
    timed plain and recorded in alternating batches (ABBA), the same Store, the same handle
    (released). A ratio of whole rounds cannot resolve a few microseconds on a call of tens
    of milliseconds on a noisy box; this says what a call pays, at the resolution of a call."""
    import wasmtime

    from gvlbench.binding.control import SPIN_WAT

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    spin = wasmtime.Instance(store, wasmtime.Module(engine, SPIN_WAT), []).exports(store)["spin"]
    plain = invoke.PreparedCall(store, spin, [1], Mode.RELEASED).raw  # type: ignore[arg-type]
    with recorder.building(Mode.RELEASED):
        timed = invoke.PreparedCall(store, spin, [1], Mode.RELEASED).raw  # type: ignore[arg-type]
    out = []
    for r in range(rounds + 1):  # the first round warms both up
        took = {}
        for name in ("plain", "timed") if r % 2 == 0 else ("timed", "plain"):
            call = plain if name == "plain" else timed
            recorder.start()  # logs emptied: a round stays within their capacity
            begun = time.perf_counter_ns()
            for _ in range(calls):
                call()
            took[name] = (time.perf_counter_ns() - begun) / calls
            recorder.stop()
        if r:
            out.append(took["timed"] - took["plain"])
    return out
