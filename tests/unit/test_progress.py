"""Sibling progress at the foreign call: the window arithmetic on made-up ticks, then the real
worker on real held and released calls.

The made-up timelines follow what CPython does around a call (issue 12): after a held call
returns, the waiting sibling gets the lock for a switch interval (5 ms) before the caller's
next line, and a stock call's ctypes glue may hand it over before the call as well. Steps the
sibling takes in those hand-offs are not progress during the call.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from gvlbench.binding.measure import STEPS_PER_TICK, Sibling, Tick, call_window, measure_progress
from gvlbench.protocol import CallPath, Mode, ProgressTask, Target
from gvlbench.wat import compile_wat
from gvlbench.worker.progress import run_progress
from tests.conftest import WAT

RATE_PER_S = 20e6  # made-up sibling steps per second when it runs
CALL_S = 0.030  # made-up foreign call: 30 ms of the caller's CPU
HANDOFF_S = 0.005  # one switch interval
GLUE_CPU_S = 20e-6  # made-up Python glue on each side of the call


def _running(
    wall0_s: float,
    wall1_s: float,
    count0: int,
    caller_cpu_s: Callable[[float], float],
    every_s: float = 0.001,
) -> list[Tick]:
    """Ticks of a sibling stepping at RATE_PER_S from wall0_s to wall1_s; `caller_cpu_s`
    maps a wall time to the caller's CPU clock then."""
    ticks: list[Tick] = []
    wall = wall0_s + every_s
    while wall <= wall1_s + 1e-12:
        count = count0 + round((wall - wall0_s) * RATE_PER_S)
        ticks.append(Tick(wall, wall + 1e-6, count, caller_cpu_s(wall)))
        wall += every_s
    return ticks


def test_held_call_window_leaves_out_the_handoffs_on_both_sides() -> None:
    """Held, stock: a hand-off in the glue before the call and one after it. The sibling
    takes 5 ms of steps in each; during the 30 ms call it is blocked. Around the call that
    reads 10 ms of steps in 40 ms (0.25); at the call, only the one tick's worth of steps the
    sibling takes on waking before it looks."""
    f0 = 7.0
    start = Tick(100.0, 100.0, 0, f0)
    before = _running(100.0, 100.0 + HANDOFF_S, 0, lambda w: f0 + GLUE_CPU_S / 2)
    call_end = 100.0 + HANDOFF_S + CALL_S
    steps_before = before[-1].count
    # the sibling wakes at call_end and takes its first tick after STEPS_PER_TICK steps
    after = [Tick(call_end + 5e-5, call_end + 5.1e-5, steps_before + STEPS_PER_TICK,
                  f0 + CALL_S + GLUE_CPU_S)]  # fmt: skip
    after += _running(
        call_end, call_end + HANDOFF_S, steps_before, lambda w: f0 + CALL_S + GLUE_CPU_S
    )
    end_wall = call_end + HANDOFF_S
    end = Tick(end_wall, end_wall, after[-1].count, f0 + CALL_S + 2 * GLUE_CPU_S)

    around = (end.count - start.count) / (end.wall_after_s - start.wall_before_s) / RATE_PER_S
    assert around == pytest.approx(0.25, abs=0.01)  # the bug: hand-offs read as progress

    seconds, steps = call_window(before + after, start, end)
    assert steps == STEPS_PER_TICK
    assert seconds == pytest.approx(CALL_S, abs=1e-3)
    assert steps / seconds / RATE_PER_S < 0.01


def test_released_call_window_is_the_call_and_counts_every_step_in_it() -> None:
    """Released: the sibling steps throughout; the caller's CPU clock moves with the wall
    clock during the call and stops while it waits for the lock afterwards. The window is
    the call less the slack at each end, and the sibling's rate in it is its full rate."""
    f0, t0 = 7.0, 100.0
    call_end = t0 + CALL_S

    def caller_cpu_s(wall: float) -> float:
        return f0 + min(wall, call_end) - t0

    ticks = _running(t0, call_end + HANDOFF_S, 0, caller_cpu_s, every_s=50e-6)
    start = Tick(t0, t0, 0, f0)
    end_wall = call_end + HANDOFF_S
    end = Tick(end_wall, end_wall, ticks[-1].count, f0 + CALL_S)

    seconds, steps = call_window(ticks, start, end, slack_cpu_s=0.5e-3)
    assert seconds == pytest.approx(CALL_S - 2 * 0.5e-3, abs=2e-4)
    assert steps / seconds / RATE_PER_S == pytest.approx(1.0, abs=0.01)


def test_without_ticks_the_window_is_the_whole_call() -> None:
    """No per-thread CPU clock (no ticks): the caller's own ticks bound the window."""
    start, end = Tick(1.0, 1.0, 10, 0.5), Tick(1.04, 1.04, 90, 0.53)
    assert call_window([], start, end) == (pytest.approx(0.04), 80)


def test_slack_is_capped_so_a_short_call_keeps_a_window() -> None:
    """A released call of 0.4 ms of CPU with 0.5 ms of slack: uncapped, a tick from the
    middle of the call would count as both before and after it, a window of one tick's
    width with no steps; capped at F / 4, the window is the call."""
    start, end = Tick(1.0, 1.0, 0, 2.0), Tick(1.0004, 1.0004, 8_000, 2.0004)
    middle = Tick(1.0002, 1.000201, 4_000, 2.0002)
    seconds, steps = call_window([middle], start, end, slack_cpu_s=0.5e-3)
    assert seconds == pytest.approx(0.0004) and steps == 8_000


def test_a_tick_torn_by_a_handoff_ends_the_window_at_its_later_wall_read() -> None:
    """The sibling read the wall clock, lost the lock for the whole held call, then read the
    caller's clock: its CPU reading is after the call, its first wall reading before. The
    window must end at the tick's second wall reading, after the call, not before it."""
    start = Tick(1.0, 1.0, 0, 2.0)
    torn = Tick(1.00001, 1.03002, 0, 2.03)
    end = Tick(1.035, 1.035, 90_000, 2.03001)
    seconds, steps = call_window([torn], start, end)
    assert seconds == pytest.approx(0.03002) and steps == 0


def test_marks_still_set_the_window_when_the_call_has_them() -> None:
    """With host marks the window is theirs, as before: counts and times from the marks."""
    sibling = Sibling()
    marks: list[tuple[int, int, float]] = []

    def call() -> None:
        marks.extend([(0, 1_000, 5.0), (1, 3_000, 5.1)])

    try:
        # the sibling's rate alone over 0.2 s: a loaded box may not run it within 10 ms
        (sample,) = measure_progress(call, marks, sibling, repeats=1, window_s=0.2)
    finally:
        sibling.stop()
    assert sample.call_s == pytest.approx(0.1)
    assert sample.ratio == pytest.approx(2_000 / 0.1 / sample.rate_alone_per_s)


def test_measure_progress_refuses_another_thread_than_the_siblings_caller() -> None:
    """The window is read from the creating thread's CPU clock: another caller would be
    measured against the wrong clock, so it is an error, not a quiet wrong number."""
    sibling = Sibling()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            measure_progress(lambda: None, [], sibling, repeats=1, window_s=0.001)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    sibling.stop()
    assert len(errors) == 1


def test_the_sibling_sees_the_callers_cpu_clock_move() -> None:
    """The premise of the window: ticks show the caller's CPU time, read from the sibling."""
    sibling = Sibling()
    try:
        first = sibling.now()
        deadline = time.thread_time() + 0.02
        while time.thread_time() < deadline:  # the caller burns 20 ms of CPU, holding the lock
            pass
        time.sleep(0.01)  # the sibling ticks while the caller sleeps
        ticks = sibling.ticks()
    finally:
        sibling.stop()
    assert sibling.sees_caller
    assert ticks and ticks[-1].caller_cpu_s >= first.caller_cpu_s + 0.02


def test_without_a_per_thread_cpu_clock_the_window_is_around_the_call(monkeypatch) -> None:
    """Where `time.pthread_getcpuclockid` is missing (macOS), the sibling takes no ticks and
    says so, and the window falls back to the whole call: a sleeping call frees the lock."""
    monkeypatch.delattr(time, "pthread_getcpuclockid")
    sibling = Sibling()
    try:
        (sample,) = measure_progress(lambda: time.sleep(0.02), [], sibling, 1, window_s=0.2)
        ticks = sibling.ticks()
    finally:
        sibling.stop()
    assert not sibling.sees_caller and ticks == []
    assert sample.call_s >= 0.02 and sample.ratio > 0


@pytest.mark.parametrize("path", [CallPath.STOCK, CallPath.LEAN])
def test_real_worker_reads_held_below_released(path: CallPath) -> None:
    """The worker's own code on real ~10 ms spin calls: the sibling gets less done during
    a held call than during a released one. An ordering, not a timing threshold."""
    target = Target(str(compile_wat(WAT / "spin.wat").wasm_path), "spin", (30_000_000,))
    ratios, vias = {}, set()
    for mode in (Mode.HELD, Mode.RELEASED):
        task = ProgressTask(target=target, mode=mode, call_path=str(path), repeats=3)
        doc = run_progress(task)
        vias.add(doc["via"])
        ratios[mode] = sorted(s["ratio"] for s in doc["samples"])[1]
    assert vias == {"at the foreign call"}
    assert ratios[Mode.HELD] < ratios[Mode.RELEASED], ratios
