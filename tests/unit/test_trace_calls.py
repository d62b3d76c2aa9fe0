"""The trace hook's package calls and waits, with real threads and real wasmtime Stores.

Leases that end with their call (a package's own lock, the next call of the same code, a
Store freed by the collector: none an overlap), meetings and interleaves, and an entry's
bounded wait (an owner waiting for the entering thread lets it in; one running Wasm is
waited for). As in test_trace_hook.py, nothing of wasmtime is patched: a stand-in package
under site-packages enters the Store as the patched entry points do.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from tests.unit.test_trace_hook import (
    _model,
    _records,
    _until,
    frames,
    recorded,
    records,
    state,
)

__all__ = ["recorded"]  # the fixture, used by name


# A stand-in for an installed package that embeds wasmtime: its file is under site-packages,
# so the hook takes its frames for a package's, and its calls enter a Store the way the
# patched entry points do (enter, then leave or step out).
PACKAGE = '''
import sys
import threading

KEPT = []


def entry(st, store, operation="Func.__call__"):
    held = st.enter(store, operation)
    if held:
        st.leave()
    else:
        st.step_out()


class Ctx:
    def __init__(self, st, store):
        self.st, self.store, self.lock = st, store, threading.Lock()

    def call(self):
        """Thread-safe: the package's own lock, held for the whole call."""
        with self.lock:
            entry(self.st, self.store)

    def keep(self):
        """An entry from a call whose frame outlives it (held, as a traceback would)."""
        KEPT.append(sys._getframe())
        entry(self.st, self.store)

    def two_step(self, between):
        """Two entries in one call, with `between` between them."""
        entry(self.st, self.store)
        between()
        entry(self.st, self.store)
'''


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Any]:
    directory = tmp_path / "site-packages" / "tracefakepkg"
    directory.mkdir(parents=True)
    (directory / "__init__.py").write_text(PACKAGE)
    sys.path.insert(0, str(directory.parent))
    try:
        import tracefakepkg

        yield tracefakepkg
    finally:
        sys.path.remove(str(directory.parent))
        sys.modules.pop("tracefakepkg", None)


def _in(thread: threading.Thread, function: str) -> bool:
    """Whether `thread` is inside a frame of `function` right now."""
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None and frame.f_code.co_name != function:
        frame = frame.f_back
    return frame is not None


def _kinds(directory: Path) -> list[str]:
    return [r["t"] for r in _records(directory)]


def test_a_package_lock_held_for_the_whole_call_is_neither_overlap_nor_meeting(
    recorded: Path, package: Any
) -> None:
    """Thread a's second call waits for the package's lock, which this thread holds while it
    enters (whole_lock.py): a is in a call of the same function at the same depth as its
    first, but that call has not entered the Store. Nothing met, nothing waits (it stalled
    2 s, an overlap)."""
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    ctx = package.Ctx(st, store)
    first, second = threading.Event(), threading.Event()
    a = threading.Thread(target=lambda: (ctx.call(), first.set(), second.wait(10), ctx.call()),
                         name="a")  # fmt: skip
    a.start()
    assert first.wait(10)
    with ctx.lock:  # this thread holds the package's lock ...
        second.set()
        _until(lambda: _in(a, "call"))  # ... while a's second call waits for it
        package.entry(st, store)  # and enters the Store
    a.join(10)
    st.end("closed")
    (row,) = [r for r in _model(recorded).rows() if r["kind"] == "object"]
    assert (row["overlaps"], row["meetings"], row["stalls"]) == (0, 0, [])
    assert not row["unsafe"] and "stall" not in _kinds(recorded)


def test_a_lease_ends_with_its_call_not_at_the_next_call_of_the_same_code(
    recorded: Path, package: Any
) -> None:
    """The maker of c1 is inside the same package function, for c2, when another thread
    enters c1 (stale_lease.py): c1's call returned, so nothing met."""
    store1, store2 = wasmtime.Store(), wasmtime.Store()
    st1, st2 = (state.new_store(s, sys._getframe()) for s in (store1, store2))
    c1, c2 = package.Ctx(st1, store1), package.Ctx(st2, store2)
    inside, done = threading.Event(), threading.Event()

    def maker() -> None:
        c1.two_step(lambda: None)  # its call on c1, over
        c2.two_step(lambda: (inside.set(), done.wait(10)))

    thread = threading.Thread(target=maker, name="maker")
    thread.start()
    assert inside.wait(10)  # the maker is in two_step again, between c2's entries
    package.entry(st1, store1)  # another thread enters c1
    done.set()
    thread.join(10)
    for st in (st1, st2):
        st.end("closed")
    rows = [r for r in _model(recorded).rows() if r["kind"] == "object"]
    assert [(r["overlaps"], r["meetings"]) for r in rows] == [(0, 0), (0, 0)]


def test_freeing_a_store_from_another_thread_is_not_a_use(recorded: Path, package: Any) -> None:
    """The garbage collector frees a dead Store in whatever thread it runs, maybe while the
    Store's user is in another call of the same code (percall_gc.py)."""
    dead, busy = wasmtime.Store(), wasmtime.Store()
    st_dead, st_busy = (state.new_store(s, sys._getframe()) for s in (dead, busy))
    inside, done = threading.Event(), threading.Event()

    def user() -> None:
        package.Ctx(st_dead, dead).two_step(lambda: None)
        package.Ctx(st_busy, busy).two_step(lambda: (inside.set(), done.wait(10)))

    thread = threading.Thread(target=user, name="user")
    thread.start()
    assert inside.wait(10)
    assert st_dead.closing(dead)  # the collector, in this thread
    st_dead.leave()
    st_dead.end("closed")
    done.set()
    thread.join(10)
    rows = _model(recorded).rows()
    (row,) = [r for r in rows if r["kind"] == "object" and r["object"] == st_dead.label]
    assert (row["overlaps"], row["meetings"], len(row["threads"])) == (0, 0, 1)
    assert row["pattern"] not in ("shared", "moved")


def test_a_thread_arriving_during_a_package_call_waits_for_it(recorded: Path, package: Any) -> None:
    """A meeting: b enters while a is between two entries of one call; b waits for that
    call to return (wait mode), and it is not an overlap."""
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    ctx, order = package.Ctx(st, store), []
    between, go = threading.Event(), threading.Event()

    def a() -> None:
        ctx.two_step(lambda: (between.set(), go.wait(10), order.append("a's call ends")))

    def b() -> None:
        package.entry(st, store)
        order.append("b entered")

    threads = [threading.Thread(target=a, name="a"), threading.Thread(target=b, name="b")]
    threads[0].start()
    assert between.wait(10)
    threads[1].start()
    _until(lambda: st.meetings == 1)
    assert order == []  # b waits for a's call
    go.set()
    for t in threads:
        t.join(10)
    assert order == ["a's call ends", "b entered"]
    st.end("closed")
    (row,) = [r for r in _model(recorded).rows() if r["kind"] == "object"]
    assert (row["overlaps"], row["meetings"], row["interleaves"], row["unsafe"]) == (
        0, 1, 0, False)  # fmt: skip
    (meeting,) = row["meeting_examples"]
    assert (meeting["name"], meeting["owner_name"], meeting["call"][2]) == (
        "b",
        "a",
        "Ctx.two_step",
    )


def test_a_thread_arriving_while_another_looks_for_a_meeting_is_no_overlap(
    recorded: Path, package: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """b holds the Store's lock while it looks for a meeting and records it, before it lets
    go to wait for a's call; nobody is inside the Store then. a, back from between its two
    entries in that moment, must wait for the lock, not count an overlap (on a loaded box
    the moment was long enough that the test above saw (1, 1, 0, True) one run in three)."""
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    ctx = package.Ctx(st, store)
    between, go, recording, a_waits = (threading.Event() for _ in range(4))
    write_lazy = records.write_lazy

    def slow_meeting(kind: str, **fields: Any) -> None:
        if kind == "meeting":  # b, holding the lock: hold it until a has arrived
            recording.set()
            assert a_waits.wait(10)
        write_lazy(kind, **fields)

    monkeypatch.setattr(records, "write_lazy", slow_meeting)

    def call_twice() -> None:  # the program's own frame, below which a package call leases
        ctx.two_step(lambda: (between.set(), go.wait(10)))

    a = threading.Thread(target=call_twice, name="a")
    b = threading.Thread(target=lambda: package.entry(st, store), name="b")
    a.start()
    assert between.wait(10)
    b.start()
    assert recording.wait(10)  # b holds the lock, and has not entered
    go.set()  # a comes back for its second entry
    _until(lambda: _blocked_in_enter(a))  # a tried the lock, and waits or counts
    a_waits.set()
    for t in (a, b):
        t.join(10)
    st.end("closed")
    (row,) = [r for r in _model(recorded).rows() if r["kind"] == "object"]
    assert (row["overlaps"], row["meetings"], row["unsafe"]) == (0, 1, False)


def _blocked_in_enter(thread: threading.Thread) -> bool:
    """Whether `thread` is inside ObjectState.enter and past its first try of the lock."""
    frame = sys._current_frames().get(thread.ident or 0)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return "enter" in names and names[0] != "enter"


def test_under_let_it_crash_a_call_interleaves(recorded: Path, package: Any) -> None:
    """Not waited for (proceed): b's entry lands between a's two, which a sees when it
    enters again within the same call."""
    state.configure("proceed")
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    b = threading.Thread(target=package.entry, args=(st, store), name="b")
    package.Ctx(st, store).two_step(lambda: (b.start(), b.join(10)))
    st.end("closed")
    (row,) = [r for r in _model(recorded).rows() if r["kind"] == "object"]
    assert (row["overlaps"], row["meetings"], row["interleaves"]) == (0, 1, 1)
    (example,) = row["interleave_examples"]
    assert (example["name"], example["other_name"]) == ("MainThread", "b")


def test_an_owner_waiting_for_the_entering_thread_lets_it_in(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host callback hands work on the Store to another thread and waits for it
    (cb_hop.py): after the patience the entering thread goes in (it waited for ever), and
    at the same lines again at once."""
    monkeypatch.setattr(state, "PATIENCE_S", 0.2)
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    done = []

    def helper() -> None:
        package_entry = st.enter(store, "Memory.read")
        done.append(package_entry)
        if not package_entry:
            st.step_out()

    assert st.enter(store, "Func.__call__")  # the owner, in its callback
    for _ in range(2):
        thread = threading.Thread(target=helper, name="helper")
        thread.start()
        thread.join(10)  # the owner waits for the helper, inside its entry
        assert not thread.is_alive()
    st.leave()
    assert done == [False, False]
    st.end("closed")
    stalls = [r for r in _records(recorded) if r["t"] == "stall"]
    assert [(r["level"], r["went_ahead"]) for r in stalls] == [("entry", True)]
    (row,) = [r for r in _model(recorded).rows() if r["kind"] == "object"]
    assert (row["overlaps"], row["entries"], row["unsafe"]) == (2, 3, True)


def test_an_owner_running_wasm_is_waited_for(
    recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the patience too: an owner in Wasm leaves by itself."""
    monkeypatch.setattr(state, "PATIENCE_S", 0.05)
    frames.set_wasmtime_dir(os.path.dirname(wasmtime.__file__))
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    spin = wasmtime.Instance(store, wasmtime.Module(store.engine, SPIN), []).exports(store)["spin"]
    order = []

    def owner() -> None:
        assert st.enter(store, "Func.__call__")
        spin(store, 1_000_000_000)  # a few tenths of a second in Wasm, the GIL released
        order.append("owner left")
        st.leave()

    thread = threading.Thread(target=owner, name="owner")
    thread.start()
    _until(lambda: st.depth == 1)
    assert st.enter(store, "Global.value")  # held: it waited
    order.append("entered")
    st.leave()
    thread.join(10)
    assert order == ["owner left", "entered"]
    stalls = [r for r in _records(recorded) if r["t"] == "stall"]
    assert [r["went_ahead"] for r in stalls] == [False]


SPIN = """(module (func (export "spin") (param i32)
  (loop $l (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
    (br_if $l (local.get 0)))))"""


def test_a_call_whose_frame_outlives_it_does_not_hide_the_next(
    recorded: Path, package: Any
) -> None:
    """A returned call's frame can live on (a traceback holds it; a free-threaded build
    frees a frame another thread touched later): its live sentinel must not stand for the
    thread's next call, or another thread walks into that one (quickjs-rs raised
    UnicodeDecodeError under 3.13t, 4 runs in 5)."""
    store = wasmtime.Store()
    st = state.new_store(store, sys._getframe())
    ctx, order = package.Ctx(st, store), []
    between, go = threading.Event(), threading.Event()

    def a() -> None:
        ctx.keep()  # its frame lives on in package.KEPT
        ctx.two_step(lambda: (between.set(), go.wait(10), order.append("a's call ends")))

    thread = threading.Thread(target=a, name="a")
    thread.start()
    assert between.wait(10)
    b = threading.Thread(target=lambda: (package.entry(st, store), order.append("b entered")))
    b.start()
    _until(lambda: st.meetings == 1)  # b met a's second call, and waits for it
    go.set()
    for t in (thread, b):
        t.join(10)
    assert order == ["a's call ends", "b entered"]
    package.KEPT.clear()
