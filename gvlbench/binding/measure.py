"""What a measuring child does between the task and the numbers.

`ThreadTeam` times rounds of concurrent calls. Its threads are started and parked before any
timing (thread start-up would otherwise swamp short rounds, as Wasmtime's own threaded
benchmarks note), each owns its Store, and a round is every thread making `loops` calls; the
clock stops when the last thread is done.

`measure_progress` runs one call while a sibling pure-Python thread counts, and compares the
sibling's rate during the call with its rate when nothing else runs.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


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


class Sibling:
    """A pure-Python thread that does nothing but count, needing the GIL for every step."""

    def __init__(self) -> None:
        self.count = 0
        self._stop = False
        self._thread = threading.Thread(target=self._spin, name="gvlbench-sibling", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop:
            self.count += 1

    def rate_alone(self, window_s: float) -> float:
        """Counts per second while this thread sleeps (nothing else wants the GIL)."""
        c0, t0 = self.count, time.perf_counter()
        time.sleep(window_s)
        return (self.count - c0) / (time.perf_counter() - t0)

    def stop(self) -> None:
        self._stop = True
        self._thread.join()


@dataclass(frozen=True)
class ProgressSample:
    ratio: float  # sibling rate during the call / its rate alone
    call_s: float  # the measured window: between the marks, or around the call
    rate_alone_per_s: float


def measure_progress(
    call: Callable[[], Any],
    marks: list[tuple[int, int, float]],
    sibling: Sibling,
    repeats: int,
    window_s: float = 0.1,
) -> list[ProgressSample]:
    """`repeats` calls, each with a fresh baseline window just before it.

    With host `mark` imports the window is the Wasm work between mark 0 and mark 1 (as the
    PR's spec measures it); without, it is the whole call as seen from Python.
    """
    samples = []
    for _ in range(repeats):
        alone = sibling.rate_alone(window_s)
        marks.clear()
        c0, t0 = sibling.count, time.perf_counter()
        call()
        c1, t1 = sibling.count, time.perf_counter()
        start = [m for m in marks if m[0] == 0]
        end = [m for m in marks if m[0] == 1]
        if start and end:
            (_, c0, t0), (_, c1, t1) = start[0], end[-1]
        during = (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
        samples.append(ProgressSample(during / alone if alone else 0.0, t1 - t0, alone))
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure_overlap(calls: Sequence[Callable[[], Any]], rounds: int) -> list[float]:
    """How much concurrent calls overlap, 0..1, per round of every thread making one call.

    From the threads' CPU times c_i and the round's wall time W: serialised calls take
    W = sum(c), fully concurrent ones W = max(c); overlap = (sum(c) - W) / (sum(c) - max(c)),
    clamped to 0..1. 1: the calls ran at the same time; 0: one after the other (a thread
    waiting for the GIL sleeps, using no CPU). It is formed within one round, the same
    threads in the same seconds, so a slow phase of a shared host cancels out, and measuring
    against max(c) keeps one vCPU running slower than the other (seen here) from reading as
    less overlap. A speedup formed from two
    measurements seconds apart has neither protection.
    """
    n = len(calls)
    cpu = [0.0] * n
    go, done = threading.Barrier(n + 1), threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def work(i: int, call: Callable[[], Any]) -> None:
        for _ in range(rounds):
            go.wait()
            c0 = time.thread_time()
            try:
                call()
            except BaseException as exc:  # re-raised by the measuring thread
                errors.append(exc)
            cpu[i] = time.thread_time() - c0
            done.wait()

    threads = [threading.Thread(target=work, args=(i, c), daemon=True) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    ratios = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        go.wait()
        done.wait()
        wall = time.perf_counter() - t0
        if errors:
            raise errors[0]
        ratios.append(overlap_fraction(cpu, wall))
    for t in threads:
        t.join()
    return ratios


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
