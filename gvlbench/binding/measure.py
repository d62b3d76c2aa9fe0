"""What a measuring child does between the task and the numbers.

`ThreadTeam` times rounds of concurrent calls. Its threads are started and parked before any
timing (thread start-up would otherwise swamp short rounds, as Wasmtime's own threaded
benchmarks note), each owns its Store, and a round is every thread making `loops` calls; the
clock stops when the last thread is done.

`measure_progress` runs one call while a sibling pure-Python thread counts, and compares the
sibling's rate during the call with its rate when nothing else runs; without host marks inside
the call, `call_window` finds the foreign call itself from the caller's CPU clock.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple


class ThreadTeam:
    """N parked threads, each running its own zero-argument call `loops` times per round."""

    def __init__(self, calls: Sequence[Callable[[], Any]]):
        self._calls = list(calls)
        n = len(self._calls)
        self._go = threading.Barrier(n + 1)
        self._done = threading.Barrier(n + 1)
        self._loops = 0
        self._stop = False
        self._errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._work, args=(c,), name=f"gvlbench-{i}", daemon=True)
            for i, c in enumerate(self._calls)
        ]
        for t in self._threads:
            t.start()

    def _work(self, call: Callable[[], Any]) -> None:
        while True:
            self._go.wait()
            if self._stop:
                return
            try:
                for _ in range(self._loops):
                    call()
            except BaseException as exc:  # reported by run(), in the timing thread
                self._errors.append(exc)
            self._done.wait()

    @property
    def native_ids(self) -> list[int]:
        """Each thread's kernel thread id, in call order."""
        return [t.native_id or 0 for t in self._threads]

    def run(self, loops: int) -> float:
        """Seconds for one round: every thread makes `loops` calls; raises a thread's error."""
        self._loops = loops
        start = time.perf_counter()
        self._go.wait()
        self._done.wait()
        elapsed = time.perf_counter() - start
        if self._errors:
            raise self._errors[0]
        return elapsed

    def close(self) -> None:
        self._stop = True
        self._go.wait()
        for t in self._threads:
            t.join()


STEPS_PER_TICK = 1024  # sibling steps between two ticks: ~30-50 us here, about 2% of its rate
CALL_SLACK_CPU_S = 0.5e-3  # caller CPU allowed for the Python glue on each side of the call


class Tick(NamedTuple):
    """One look at the calling thread, taken by the sibling (or by the caller itself).

    The caller's CPU clock is read between two wall-clock reads, so the caller's CPU time was
    at most `caller_cpu_s` at `wall_before_s` and at least that at `wall_after_s`, even if
    the lock changed hands between the reads; `count` is the sibling's count throughout (only
    the sibling counts, and it is busy taking this tick)."""

    wall_before_s: float
    wall_after_s: float
    count: int
    caller_cpu_s: float


class Sibling:
    """A pure-Python thread that does nothing but count, needing the GIL for every step.

    Every `STEPS_PER_TICK` steps it also takes a `Tick` of the thread that created it (the
    caller, the one that will make the foreign calls), so that `call_window` can find the
    foreign call itself in wall time. The ticks live in a flat array of doubles (32 bytes a
    tick, about 1 MB per second of counting) that `forget` empties. Where the platform lacks
    per-thread CPU clocks (`time.pthread_getcpuclockid`), no ticks are taken and
    `sees_caller` is False: a window is then the whole call as Python sees it.
    """

    def __init__(self, own_ticks: bool = False) -> None:
        self.count = 0
        self._stop = False
        self.caller_ident = threading.get_ident()
        getclock = getattr(time, "pthread_getcpuclockid", None)  # absent on macOS
        self._caller_clock = getclock(self.caller_ident) if getclock else None
        self._ticks = array("d")
        # a timeline's: the sibling's own (wall ns, CPU ns, run-queue ns, count) at each tick
        self._own: array[int] | None = array("q") if own_ticks else None
        # with own ticks, of the last alone window: the share the OS ran the sibling, and its
        # steps per CPU second (its speed while it runs)
        self.alone_running, self.alone_speed = 1.0, 0.0
        self.native_id = 0
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="gvlbench-sibling", daemon=True)
        self._thread.start()
        self._started.wait()

    @property
    def sees_caller(self) -> bool:
        return self._caller_clock is not None

    def _spin(self) -> None:
        ticks, clock = self._ticks, self._caller_clock
        wall, cpu = time.perf_counter, time.clock_gettime
        self.native_id = threading.get_native_id()
        own, look = self._own, own_look() if self._own is not None else None
        self._started.set()
        while not self._stop:
            for _ in range(STEPS_PER_TICK):
                self.count += 1
            if clock is not None:
                before = wall()
                caller_cpu = cpu(clock)
                ticks.extend((before, wall(), self.count, caller_cpu))
            if look is not None:
                own.extend(look())  # type: ignore[union-attr]
                own.append(self.count)  # type: ignore[union-attr]

    def now(self) -> Tick:
        """A tick taken by the caller itself (the count is exact: the caller holds the lock)."""
        count, wall, clock = self.count, time.perf_counter(), self._caller_clock
        cpu = time.thread_time() if clock is None else time.clock_gettime(clock)
        return Tick(wall, wall, count, cpu)

    def ticks(self) -> list[Tick]:
        """The ticks taken since `forget`, oldest first."""
        flat = self._ticks.tolist()  # one C call: a consistent copy
        return [Tick(flat[i], flat[i + 1], int(flat[i + 2]), flat[i + 3])
                for i in range(0, len(flat), 4)]  # fmt: skip

    def forget(self) -> None:
        del self._ticks[:]
        if self._own is not None:  # the last own tick stays: the next interval starts there
            del self._own[:-4]

    def own_tick_after(self, wall_ns: int, timeout_s: float = 1.0) -> None:
        """Wait (the lock released) until the sibling has ticked after `wall_ns`, so its own
        ticks cover everything up to then."""
        own = self._own
        deadline = time.perf_counter() + timeout_s
        while own and own[-4] <= wall_ns and time.perf_counter() < deadline:
            time.sleep(0.0005)

    def own_ticks(self) -> list[tuple[int, int, int, int]]:
        """A timeline's: the sibling's own (wall ns, CPU ns, run-queue ns, count) at each tick
        since `forget` (empty unless made with `own_ticks`)."""
        flat = self._own.tolist() if self._own is not None else []
        return [(flat[i], flat[i + 1], flat[i + 2], flat[i + 3]) for i in range(0, len(flat), 4)]

    def rate_alone(self, window_s: float) -> float:
        """Counts per second while this thread sleeps (nothing else wants the GIL). With own
        ticks, `alone_running` is then the share of that window the OS ran the sibling (on a
        busy machine, less than 1: the rate alone is counted at that share)."""
        c0, t0 = self.count, time.perf_counter()
        time.sleep(window_s)
        rate = (self.count - c0) / (time.perf_counter() - t0)
        if self._own is not None:
            self.alone_running, self.alone_speed = self._running(round(t0 * 1e9))
        return rate

    def _running(self, since_ns: int) -> tuple[float, float]:
        """From the sibling's last tick before `since_ns` to its latest one: its CPU time over
        wall time, and its steps per CPU second."""
        self.own_tick_after(time.perf_counter_ns())
        ticks = self.own_ticks()
        first = [t for t in ticks if t[0] <= since_ns][-1:] or ticks[:1]
        if not first or ticks[-1][0] <= first[0][0]:
            return 1.0, 0.0
        (w0, c0, _, n0), (w1, c1, _, n1) = first[0], ticks[-1]
        return (c1 - c0) / (w1 - w0), (n1 - n0) / (c1 - c0) * 1e9 if c1 > c0 else 0.0

    def stop(self) -> None:
        self._stop = True
        self._thread.join()


def own_look() -> Callable[[], tuple[int, int, int]] | None:
    """For the calling thread: a function that reads (wall ns, its CPU ns, its run-queue ns),
    the kernel's account of where its time went (schedstat's run delay: runnable, not run).
    None where /proc/thread-self/schedstat cannot be read (not Linux).

    The three are read as of one instant: a thread is preempted on its way back from a
    system call (the CPU clock and schedstat are both one), so a wait can fall between two
    of the reads; the run delay read again after them says so, and the look is taken again
    (without it, a preempted interval read as sleep, and the next one as more run delay than
    wall time: measured here, two thirds of a released spin call were "sleeping")."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return None
    wall, cpu, pread = time.perf_counter_ns, time.thread_time_ns, os.pread

    def queued() -> int:
        return int(pread(fd, 64, 0).split()[1])

    def look() -> tuple[int, int, int]:
        while True:
            delay = queued()
            seen = wall(), cpu(), delay
            if queued() == delay:
                return seen

    return look


def call_window(
    ticks: Sequence[Tick], start: Tick, end: Tick, slack_cpu_s: float = CALL_SLACK_CPU_S
) -> tuple[float, int]:
    """(wall seconds, sibling steps) of the foreign call itself: `call_window_bounds`."""
    begin, finish, steps = call_window_bounds(ticks, start, end, slack_cpu_s)
    return finish - begin, steps


def call_window_bounds(
    ticks: Sequence[Tick], start: Tick, end: Tick, slack_cpu_s: float = CALL_SLACK_CPU_S
) -> tuple[float, float, int]:
    """(first, last wall seconds, sibling steps) of the foreign call itself, within
    `start`..`end`.

    `start` and `end` are the caller's own ticks just before and after the call; `ticks` are
    the sibling's. Only the caller runs Python or the foreign call in between, so its CPU
    time over the window, F, is the call's plus microseconds of glue, and the call runs
    while the caller's CPU clock goes from start + slack to end - slack. The call therefore
    began after the last tick that saw the caller's clock at most start + slack, and ended
    before the first tick that saw it at least end - slack. Sibling steps taken while the
    caller waited for the lock on either side (the switch-interval hand-offs) fall outside.
    The slack is at most F / 4, so the two bounds cannot cross.
    """
    cpu_s = end.caller_cpu_s - start.caller_cpu_s
    slack = max(0.0, min(slack_cpu_s, cpu_s / 4))
    inside = [t for t in ticks if start.wall_before_s <= t.wall_before_s
              and t.wall_after_s <= end.wall_after_s]  # fmt: skip
    began = [t for t in (start, *inside) if t.caller_cpu_s <= start.caller_cpu_s + slack]
    ended = [t for t in (*inside, end) if t.caller_cpu_s >= end.caller_cpu_s - slack]
    first = max(began, key=lambda t: t.wall_before_s)
    last = min(ended, key=lambda t: t.wall_after_s)
    return first.wall_before_s, last.wall_after_s, last.count - first.count


@dataclass(frozen=True)
class ProgressSample:
    ratio: float  # sibling rate during the call / its rate alone
    call_s: float  # the measured window: between the marks, or the foreign call's own
    rate_alone_per_s: float


def measure_progress(
    call: Callable[[], Any],
    marks: list[tuple[int, int, float]],
    sibling: Sibling,
    repeats: int,
    window_s: float = 0.1,
    around: bool = False,
    observe: Callable[[float, float, float], None] | None = None,
) -> list[ProgressSample]:
    """`repeats` calls from the sibling's caller, each with a fresh baseline just before it.

    With host `mark` imports the window is the Wasm work between mark 0 and mark 1 (as the
    PR's spec measures it). Without, it is the foreign call itself, found by `call_window`
    from the caller's CPU clock. Not the call as Python sees it: after a held call returns,
    CPython hands the lock to the waiting sibling for a switch interval (5 ms) before the
    next line runs, and a stock call's own ctypes glue may hand it over before the call
    too, so a window read around the call credits a held call of 20 ms with about 0.25.
    Why the CPU clock, and why the sibling reads it: subtracting the caller's off-CPU time
    from a window around the call (F vs wall) also subtracts the time the OS gave another
    process, so under load a released call reads as held; asking only "did the sibling
    step while the caller's clock moved" counts nothing when both share one core. Locating
    the call in wall time and counting the sibling's steps in it is what the marks do, and
    gives the same reading under load as they do.

    `around`: the window is the whole call as Python sees it (a code target: the package's
    own Python runs between its Wasm calls, and is part of what the statement costs).
    `observe(start_s, end_s, ratio)`: told each sample's window (perf_counter seconds) and
    ratio right after its call (a timeline records the threads' states in it).
    """
    if threading.get_ident() != sibling.caller_ident:
        raise RuntimeError("measure_progress must run on the thread that created the Sibling")
    samples = []
    for _ in range(repeats):
        alone = sibling.rate_alone(window_s)
        marks.clear()
        sibling.forget()
        start = sibling.now()
        call()
        end = sibling.now()
        opened = [m for m in marks if m[0] == 0]
        closed = [m for m in marks if m[0] == 1]
        if opened and closed:
            (_, c0, t0), (_, c1, t1) = opened[0], closed[-1]
            steps = c1 - c0
        elif around:
            t0, t1, steps = start.wall_before_s, end.wall_after_s, end.count - start.count
        else:
            t0, t1, steps = call_window_bounds(sibling.ticks(), start, end)
        seconds = t1 - t0
        during = steps / seconds if seconds > 0 else 0.0
        samples.append(ProgressSample(during / alone if alone else 0.0, seconds, alone))
        if observe is not None:
            observe(t0, t1, samples[-1].ratio)
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure_overlap_with_control(calls: Sequence[Callable[[], Any]],
                                 control: Sequence[Callable[[], Any]],
                                 rounds: int) -> tuple[list[float], list[float]]:  # fmt: skip
    """How much concurrent calls overlap, 0..1, per round of every thread making one call,
    and the same of `control` (calls that need no lock: binding/control.py), the two in turn
    round by round (ABBA), so the control says what the machine gave to two threads in the
    very seconds the calls were measured.

    From the threads' CPU times c_i and the round's wall time W: serialised calls take
    W = sum(c), fully concurrent ones W = max(c); overlap = (sum(c) - W) / (sum(c) - max(c)),
    clamped to 0..1. 1: the calls ran at the same time; 0: one after the other (a thread
    waiting for the GIL sleeps, using no CPU). It is formed within one round, the same
    threads in the same seconds, so a slow phase of a shared host cancels out, and measuring
    against max(c) keeps one vCPU running slower than the other (seen here) from reading as
    less overlap. A speedup formed from two measurements seconds apart has neither
    protection; and a host that gives the process one core at a time reads as no overlap,
    which only the control tells from a held lock.
    """
    teams = OverlapTeam(calls), OverlapTeam(control)
    measured: tuple[list[float], list[float]] = ([], [])
    try:
        for r in range(rounds):
            for i in (0, 1) if r % 2 == 0 else (1, 0):
                measured[i].append(teams[i].round())
    finally:
        for team in teams:
            team.close()
    return measured


class OverlapTeam:
    """One parked thread per call; `round` has each make one call at once and returns how
    far they overlapped (`overlap_fraction`)."""

    def __init__(self, calls: Sequence[Callable[[], Any]]):
        n = len(calls)
        self._cpu = [0.0] * n
        self._go, self._done = threading.Barrier(n + 1), threading.Barrier(n + 1)
        self._errors: list[BaseException] = []
        self._stop = False
        self._threads = [threading.Thread(target=self._work, args=(i, c), daemon=True)
                         for i, c in enumerate(calls)]  # fmt: skip
        for t in self._threads:
            t.start()

    def _work(self, i: int, call: Callable[[], Any]) -> None:
        while True:
            self._go.wait()
            if self._stop:
                return
            c0 = time.thread_time()
            try:
                call()
            except BaseException as exc:  # re-raised by the measuring thread
                self._errors.append(exc)
            self._cpu[i] = time.thread_time() - c0
            self._done.wait()

    def round(self) -> float:
        t0 = time.perf_counter()
        self._go.wait()
        self._done.wait()
        wall = time.perf_counter() - t0
        if self._errors:
            raise self._errors[0]
        return overlap_fraction(self._cpu, wall)

    def close(self) -> None:
        self._stop = True
        self._go.wait()
        for t in self._threads:
            t.join()


def overlap_fraction(cpu: Sequence[float], wall: float) -> float:
    """(sum(c) - W) / (sum(c) - max(c)), clamped to 0..1: the share of the calls' CPU time,
    beyond the longest call's, that ran while another call ran. 0 with nothing to overlap."""
    total, longest = sum(cpu), max(cpu, default=0.0)
    if wall <= 0 or total <= longest:
        return 0.0
    return min(1.0, max(0.0, (total - wall) / (total - longest)))


def batch_ns(call: Callable[[], Any], loops: int) -> float:
    """Nanoseconds per call over one batch of `loops` back-to-back calls."""
    start = time.perf_counter_ns()
    for _ in range(loops):
        call()
    return (time.perf_counter_ns() - start) / loops


def loops_for(call: Callable[[], Any], batch_s: float) -> int:
    """The smallest power of two of calls that takes at least `batch_s`."""
    loops = 1
    while batch_ns(call, loops) * loops < batch_s * 1e9:
        loops *= 2
    return loops


def run_all(threads: Sequence[threading.Thread], errors: list[BaseException]) -> None:
    """Start every thread, wait for them all, then raise the first error one recorded: a
    measuring thread's failure belongs to the worker's own thread, which reports it."""
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
