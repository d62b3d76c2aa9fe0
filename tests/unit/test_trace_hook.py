"""The trace hook's Store state with real threads and real wasmtime Stores, in this process.

No wasmtime method is patched here (that happens only in a traced program): each test drives
a Store's state as the patched entry points do, from threads whose timing the test controls,
then reads the records it wrote, through the same model `gvlbench trace` reads them with.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from gvlbench.trace.model import TraceModel
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "gvlbench" / "trace" / "hook"))
from gvlbench_tracehook import calls, frames, records, state, watch


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[Path]:
    """Records go to tmp_path for the test, and nowhere after it."""
    records._state.update(dir=str(tmp_path), fd=None)
    state.configure("wait")
    calls.WENT_AHEAD.clear()  # the lines that stalled, remembered process-wide
    yield tmp_path
    records._state.update(dir="", fd=None)
    state.configure("wait")
    calls.WENT_AHEAD.clear()


def _records(directory: Path) -> list[dict[str, Any]]:
    path = directory / f"proc-{os.getpid()}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _model(directory: Path) -> TraceModel:
    model = TraceModel()
    for record in _records(directory):
        model.add(os.getpid(), record)
    return model


def _until(condition: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def _held_by_owner(st: state.ObjectState, store: object) -> tuple[threading.Event, Any]:
    """A thread named `owner` inside the Store until the returned event is set."""
    inside, release = threading.Event(), threading.Event()

    def owner() -> None:
        assert st.enter(store, "Func.__call__")
        inside.set()
        release.wait(10)
        st.leave()

    thread = threading.Thread(target=owner, name="owner")
    thread.start()
    assert inside.wait(10)
    return release, thread


def test_an_overlap_is_recorded_with_both_stacks_then_waited_out(recorded: Path) -> None:
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    release, owner = _held_by_owner(st, store)
    entered = threading.Event()

    def intruder() -> None:
        assert st.enter(store, "Memory.read")  # waits for the owner to leave
        entered.set()
        st.leave()

    thread = threading.Thread(target=intruder, name="intruder")
    thread.start()
    _until(lambda: st.overlaps == 1)
    assert not entered.is_set()  # it waits: it is not inside with the owner
    release.set()
    owner.join(10)
    thread.join(10)
    assert entered.is_set()
    st.end("closed")
    (overlap,) = [r for r in _records(recorded) if r["t"] == "overlap"]
    assert (overlap["operation"], overlap["owner_operation"]) == ("Memory.read", "Func.__call__")
    assert (overlap["name"], overlap["owner_name"]) == ("intruder", "owner")
    assert overlap["stack"][-1][2].endswith("intruder")
    assert overlap["owner_stack"][-1][2].endswith("owner")
    (row,) = [r for r in _model(recorded).rows() if r["kind"] == "object"]
    assert (row["pattern"], row["unsafe"], row["overlaps"]) == ("shared", True, 1)


def test_refuse_raises_and_proceed_lets_the_thread_in(recorded: Path) -> None:
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    release, owner = _held_by_owner(st, store)
    try:
        state.configure("refuse")
        with pytest.raises(state.StoreInUseError, match="in use by thread 'owner'"):
            st.enter(store, "Global.value")
        state.configure("proceed")
        assert st.enter(store, "Global.value") is False  # inside beside the owner, unheld
        st.step_out()
    finally:
        release.set()
        owner.join(10)
    assert st.overlaps == 2 and st.counts[threading.get_native_id()] == 1
    st.end("closed")
    (row,) = [r for r in _model(recorded).rows() if r["kind"] == "object"]
    assert (row["entries"], row["ahead"]) == (2, 1)  # the entry that went in is counted


def test_threads_taking_turns_under_a_lock_are_shared_without_overlap(recorded: Path) -> None:
    """The check that can say no: many threads, never two inside, is not unsafe."""
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    lock = threading.Lock()

    def turns() -> None:
        for _ in range(50):
            with lock:
                assert st.enter(store, "Func.__call__")
                st.leave()
            time.sleep(0)

    threads = [threading.Thread(target=turns) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    st.end("closed")
    (row,) = [r for r in _model(recorded).rows() if r["kind"] == "object"]
    assert row["overlaps"] == 0 and not row["unsafe"] and len(row["threads"]) == 3
    assert row["pattern"] in ("shared-locked", "moved")  # "moved" only if turns never interleaved
    assert row["entries"] == 150


def test_the_names_that_hold_a_store() -> None:
    store = wasmtime.Store()

    class Context:
        def __init__(self) -> None:
            self._engine = {"instance": [store]}

    ctx, other = Context(), object()  # noqa: F841  (read from the frame, not the code)
    assert sorted(frames.holders(sys._getframe(), store)) == ["ctx", "store"]
    assert frames.holders(sys._getframe(), other) == ["other"]


def test_the_harness_knows_the_line_the_hook_writes_when_its_records_have_no_room() -> None:
    """The hook cannot be imported by the harness (it installs itself): the two spell the
    line each on their side, and must agree."""
    from gvlbench.trace.program import RECORDS_LOST

    assert records.LOST == RECORDS_LOST


class _Codec:
    """Stands for a compiled extension's object: trace first sees it when it is entered."""

    def encode(self, x: int) -> int:
        time.sleep(0.001)
        return x


def test_threads_meeting_a_new_object_together_make_one_state(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight threads enter an object trace has not seen, released together, a few times: one
    state is made for it. Without the lock each thread that found none made its own, and a
    shared numcodecs codec read as one shared object plus per-thread ones."""
    made: list[object] = []
    real = state.new_object
    monkeypatch.setattr(state, "new_object", lambda obj, *a, **k: made.append(obj) or real(
        obj, *a, **k))  # fmt: skip
    w = watch.Watched("tests.unit.test_trace_hook:_Codec", serialised=True, classes=[_Codec])
    encode = watch._entry(_Codec.encode, "_Codec.encode", 0, w)
    for _ in range(5):
        codec, start = _Codec(), threading.Barrier(8)

        def call(codec: _Codec = codec, start: threading.Barrier = start) -> None:
            start.wait()
            encode(codec, 1)

        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert made.count(codec) == 1
