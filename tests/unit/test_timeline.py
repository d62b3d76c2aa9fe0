"""The timeline's model, in-process: one thread's events as states, a sibling's states from
its ticks, the trace-event file written and read back. Pure: no child, no engine."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from gvlbench import timeline as model
from gvlbench.timeline import (
    CALL,
    CALLBACK,
    GUARD_WAIT,
    NATIVE_REFUSED,
    PY_CALL,
    PY_CALLBACK,
    Group,
    Part,
    Track,
)


def test_a_released_call_with_a_callback_splits_into_measured_states() -> None:
    """Python's stamps around the foreign call, the shim's inside it: the native return to
    Python's stamp is the wait for the lock, the callback's native entry to its first Python
    line the wait to enter it."""
    events = [
        (PY_CALL, 0, 1000, ""),  # Python: before the call .. once it holds the lock again
        (CALL, 10, 700, "wasmtime_func_call"),  # the shim: entered .. returned
        (CALLBACK, 100, 400, "callback"),  # the shim: the callback entered .. left
        (PY_CALLBACK, 250, 390, ""),  # the trampoline's first and last line
        (PY_CALL, 1100, 1200, ""),  # the next call: Python in between
        (CALL, 1110, 1150, "wasmtime_func_call"),
    ]
    spans, instants = model.spans_of(events, "released")
    assert spans == [
        ["python", 0, 10], ["wasm-released", 10, 100], ["wait-callback", 100, 250],
        ["callback", 250, 390], ["wasm-released", 390, 700], ["wait-return", 700, 1000],
        ["python", 1000, 1110], ["wasm-released", 1110, 1150], ["wait-return", 1150, 1200],
    ]  # fmt: skip
    assert instants == []


def test_held_calls_are_held_and_free_threaded_has_no_lock_to_wait_for() -> None:
    events = [(PY_CALL, 0, 100, ""), (CALL, 5, 90, "")]
    held, _ = model.spans_of(events, "held")
    assert [s[0] for s in held] == ["python", "wasm-held", "wait-return"]
    free, _ = model.spans_of(events, "free-threaded")
    assert [s[0] for s in free] == ["python", "wasm", "python"]


def test_without_the_shim_a_call_is_drawn_whole_and_guard_events_keep_their_place() -> None:
    spans, _ = model.spans_of([(PY_CALL, 0, 100, ""), (PY_CALLBACK, 20, 30, "")], "released")
    assert [s[0] for s in spans] == ["call", "callback", "call"]
    events = [(PY_CALL, 0, 100, ""), (CALL, 5, 95, ""), (GUARD_WAIT, 6, 60, "x"),
              (NATIVE_REFUSED, 200, 200, "wasmtime_func_call")]  # fmt: skip
    spans, instants = model.spans_of(events, "released")
    assert ["guard-wait", 6, 60] in spans
    assert instants == [[model.REFUSED, 200]]


def test_states_never_overlap_and_cover_each_recorded_stretch() -> None:
    """Clock reads a few ns apart may leave an event outside its parent: clamped, never
    overlapping, never a gap inside a call."""
    events = [(PY_CALL, 0, 500, ""), (CALL, 10, 510, ""), (CALLBACK, 50, 80, ""),
              (PY_CALLBACK, 60, 90, "")]  # fmt: skip
    spans, _ = model.spans_of(events, "released")
    for (_, _, end), (_, start, _) in itertools.pairwise(spans):
        assert end == start
    assert spans[0][1] == 0 and spans[-1][2] == 500


def test_a_sibling_is_split_by_the_kernels_account_of_its_time() -> None:
    """Between two ticks: CPU time (running), run delay (not run by the OS), the rest slept
    (a counting thread sleeps only to wait for the GIL); a remainder within one look's spread
    is not a wait."""
    ticks = [(0, 0, 0), (40_000, 40_000, 0), (140_000, 40_500, 20_000), (180_000, 80_000, 20_000),
             (181_000, 80_000 + 999, 20_000)]  # fmt: skip
    spans = model.sibling_spans(ticks, 0, 181_000)
    assert model.shares(spans) == pytest.approx(
        {"running": 81_500 / 181_000, "wait-lock": 79_500 / 181_000,
         "descheduled": 20_000 / 181_000}, abs=1e-6)  # fmt: skip
    assert ["wait-lock", 40_000, 119_500] in spans  # slept, then queued, then ran to the tick


def _part() -> Part:
    groups = [Group("held/2", "held, 2 threads", "held", 2)]
    tracks = [Track("held/2", "gvlbench-0", 11, "caller", [["wasm-held", 1000, 5000]]),
              Track("held/2", "gvlbench-1", 12, "caller",
                    [["wait-return", 1000, 5000], ["wasm-held", 5000, 9000]],
                    [[model.REFUSED, 4000]])]  # fmt: skip
    return Part(groups, tracks, rounds=[["held/2", 0, 900, 9100]])


def test_the_file_opens_in_perfetto_and_reads_back(tmp_path: Path) -> None:
    """Perfetto's JSON reader stops at a top-level key it does not know: gvlbench's own data
    travels in otherData, after the events; every span is a complete event on its thread."""
    tl = model.Timeline(command="run", scenario="mark")
    tl.add(_part(), "mark")
    doc = model.to_trace_events(tl)
    assert list(doc) == ["displayTimeUnit", "traceEvents", "otherData"]
    complete = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["cat"] != "round"]
    assert {(e["tid"], e["cat"]) for e in complete} == {(11, "wasm-held"), (12, "wait-return"),
                                                        (12, "wasm-held")}  # fmt: skip
    assert min(e["ts"] for e in doc["traceEvents"] if "ts" in e) == 0  # from the first event
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    back = model.load(path)
    assert [t["spans"] for t in back.tracks] == [
        [["wasm-held", 100, 4100]],
        [["wait-return", 100, 4100], ["wasm-held", 4100, 8100]],
    ]
    assert back.tracks[1]["instants"] == [[model.REFUSED, 3100]]
    (one, two) = model.summarize(back)
    assert one.shares == {"wasm-held": 1.0} and one.waits == 0
    assert two.waits == 1 and two.wait_worst_s == pytest.approx(4e-6)


def test_a_file_that_is_not_a_timeline_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"traceEvents": []}')
    with pytest.raises(model.TimelineFileError, match="not a gvlbench timeline"):
        model.load(path)


def test_a_window_sets_the_siblings_states_against_its_progress() -> None:
    """progress = (steps during / window) / rate alone; with the step rate the same while it
    runs, that is its running share over its running share when alone."""
    tl = model.Timeline()
    part = Part([Group("progress", "held: a caller and its sibling", "held")],
                [Track("progress", "sibling", 3, "sibling",
                       [["wait-lock", 0, 600], ["descheduled", 600, 900],
                        ["running", 900, 1000]])],
                windows=[["progress", 0, 1000, 0.2, 0.5]])  # fmt: skip
    tl.add(part)
    (window,) = model.windows(tl, 1)
    assert window.shares["wait-lock"] == pytest.approx(0.6)
    assert window.progress_from_states == pytest.approx(0.2)
