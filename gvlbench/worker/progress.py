"""The child's side of a progress task: how far a sibling thread gets during one call.

A pure-Python sibling counts while the call runs; its rate during the call over its rate
alone is the progress ratio (1: the lock was free for it, 0: it was held). The window is the
Wasm work between two host marks where the scenario has them, else the foreign call itself
(`call_window`) rather than the Python around it, where lock hand-offs count as progress.
Then, with `overlap_threads` > 1, that many concurrent calls measure how much they overlap,
each round beside the control's (binding/control.py): as many threads of pure Wasm that need
no lock, sized like the call, whose overlap says what the machine gave in those seconds.
"""

from __future__ import annotations

from typing import Any

from gvlbench.answers import to_wire
from gvlbench.binding.control import control_calls
from gvlbench.binding.embed import MISROUTED
from gvlbench.binding.hosts import HostContext
from gvlbench.binding.measure import Sibling, measure_overlap_with_control, measure_progress
from gvlbench.bindings import driver_for
from gvlbench.protocol import ProgressTask


def run_progress(task: ProgressTask) -> dict[str, Any]:
    if task.code is not None:
        return _code_progress(task)
    target, mode, path = task.target, task.mode, task.call_path
    driver = driver_for(target)
    sibling = Sibling(own_ticks=task.timeline)
    ctx = HostContext(counter=lambda: sibling.count)
    recording = _recording(task, sibling)
    if recording is None:
        (emb,) = driver.instances(target, mode, path, 1, [ctx])
        call = emb.checked_call
    else:
        with recording.recorder.building(mode):
            (emb,) = driver.instances(target, mode, path, 1, [ctx])
        if path == "stock":  # wasmtime-py's own binding, process-wide: through the timed call
            recording.recorder.use_stock(mode)
        call = recording.wrap(emb.checked_call)
    emb.checked_call()  # warm: first-call costs stay out of the samples
    try:
        samples = measure_progress(call, ctx.marks, sibling, task.repeats,
                                   observe=recording and recording.observe)  # fmt: skip
    finally:
        sibling.stop()
    if any(i.host == "mark" for i in target.imports):
        via = "host mark"
    else:  # the window call_window finds, or the whole call where no CPU clock shows it
        via = "at the foreign call" if sibling.sees_caller else "around the call"
    doc: dict[str, Any] = {
        "via": via,
        "samples": [
            {"ratio": s.ratio, "call_s": s.call_s, "rate_alone_per_s": s.rate_alone_per_s}
            for s in samples
        ],
    }
    if task.overlap_threads > 1:  # the sibling is gone: only the calls compete now
        embs = driver.instances(target, mode, path, task.overlap_threads, None)
        for emb in embs:
            emb.checked_call()
        doc["overlap_threads"] = task.overlap_threads
        control = control_calls(task.overlap_threads, _median_call_s(samples))
        doc["overlap"], doc["control_overlap"] = measure_overlap_with_control(
            [e.checked_call for e in embs], control, task.repeats
        )
    if target.expect_raises is not None:  # how many calls met the known defect, of how many
        doc["misrouted"] = dict(MISROUTED)
        threads = task.overlap_threads if task.overlap_threads > 1 else 0
        doc["checked_calls"] = (1 + task.repeats) * (1 + threads)
    if recording is not None:
        doc["timeline"] = to_wire(recording.part())
    return doc


def _recording(task: ProgressTask, sibling: Sibling) -> Any:
    """A timeline of the measured calls, the caller's and the sibling's states (None: not
    asked for)."""
    if not task.timeline:
        return None
    from gvlbench.binding.timeline import ProgressTimeline, Recorder
    from gvlbench.timeline import Group

    group = Group("progress", f"{task.mode}: a caller and its sibling (progress)",
                  str(task.mode))  # fmt: skip
    return ProgressTimeline(Recorder(), group, sibling, task.mode)


def _code_progress(task: ProgressTask) -> dict[str, Any]:
    """Around the statement: the window is the whole statement, Python glue and hand-offs
    included, since the package's own Python runs between its Wasm calls."""
    from gvlbench.worker.code import target_of

    code = target_of(task)
    sibling = Sibling()
    try:
        code.reference()  # warm, and this thread's per-thread setup, outside the samples
        samples = measure_progress(code.call, [], sibling, task.repeats, around=True)
    finally:
        sibling.stop()
    doc: dict[str, Any] = {"via": "around the statement", "samples": [
        {"ratio": s.ratio, "call_s": s.call_s, "rate_alone_per_s": s.rate_alone_per_s}
        for s in samples
    ]}  # fmt: skip
    if task.overlap_threads > 1:  # a first round runs each thread's per-thread setup: dropped
        calls = [code.call] * task.overlap_threads
        control = control_calls(task.overlap_threads, _median_call_s(samples))
        overlap, controlled = measure_overlap_with_control(calls, control, task.repeats + 1)
        doc["overlap_threads"] = task.overlap_threads
        doc["overlap"], doc["control_overlap"] = overlap[1:], controlled[1:]
    return doc


def _median_call_s(samples: list[Any]) -> float:
    """How long one measured call took (the control's calls are sized like it)."""
    times = sorted(s.call_s for s in samples)
    return times[len(times) // 2] if times else 0.01
