"""Package calls: a Store held between the entries of one call, for exactly as long as it runs.

A package's one call is often many entries (quickjs-rs's `Context.eval`: about 20, writing its
input into memory, calling, reading the result). A thread that enters a Store leases it for
the package call it entered from: the outermost frame of an installed package below the
program's innermost own frame (`Context.eval`). The lease lasts exactly as long as that frame:
the frame carries a sentinel as its `f_trace` (which nothing calls unless a tracer runs, and
which is never set when one does or when the frame has a tracer of its own), and the lease holds
the sentinel by weak reference only. The frame's end ends the sentinel, and while the sentinel
lives the frame's id is its own, so a lease is never stale and never kept alive.

Two things follow, both looked at only when a Store's entries switch threads:

- a *meeting*: a thread enters while another is still inside a package call that entered the
  Store (between two of its entries, or after its last). It is recorded, with both stacks; in
  `wait` mode the entering thread waits for that call to return (the program's package calls
  serialised, as its entries are), at most PATIENCE_S: the call may be waiting for this thread
  (a lock the entering thread holds), so it then goes ahead, and so does every later meeting
  at that pair of lines, at once. A meeting is not an overlap: nothing is undefined in
  Wasmtime, and it is not trace's exit 1.
- an *interleave*: a thread enters again within the same package call after another thread's
  entry (one that went ahead, or under --refuse or --let-it-crash, which do not wait on calls):
  the call's later entries see the other thread's changes, harmless if the package keeps
  nothing in the Store between them, a wrong result if it does.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import types
import weakref
from typing import Any

from . import clock, frames, records

MAX_EXAMPLES = 8  # meetings and interleaves with stacks, per Store
# Pairs of lines whose wait stalled once in this process (an entry's, or a package call's):
# every later wait at them goes ahead at once, whichever object it is at. One stall per site,
# not per object: a suite that makes a Store per test at one line stalls once, not per test.
WENT_AHEAD: set[tuple[Any, ...]] = set()
# a lease: the sentinel (weakly), the frame's id, its code, the thread's Python ident
Lease = tuple["weakref.ref[_Sentinel]", int, types.CodeType, int]


class _Sentinel:
    """A package call frame's mark: it lives exactly as long as the frame."""

    __slots__ = ("__weakref__",)

    def __call__(self, frame: Any, event: str, arg: Any) -> _Sentinel:
        return self  # called only if a tracer starts inside the call: trace nothing


def take(frame: types.FrameType | None) -> Lease | None:
    """The lease for an entry made below `frame` (the traced wrapper): None when the program
    calls wasmtime itself, or when the package call's frame is traced by someone else."""
    call, found = frame, None
    while call is not None:
        kind = frames.category(call.f_code.co_filename)
        if kind == "user":
            break
        if kind == "site":
            found = call
        call = call.f_back
    if found is None or call is None:
        return None
    mark = found.f_trace
    if mark is None and sys.gettrace() is None:
        mark = found.f_trace = _Sentinel()
    if not isinstance(mark, _Sentinel):
        return None
    return weakref.ref(mark), id(found), found.f_code, threading.get_ident()


def current(lease: Lease | None, frame: types.FrameType | None) -> bool:
    """Whether an entry made below `frame` (the traced wrapper) is part of `lease`'s call:
    its frame is between the entry and the program's innermost own frame. Looked at on every
    entry that is not nested: a frame can outlive its call (a traceback holds it; a
    free-threaded build frees an object another thread touched later), so a live sentinel
    alone does not say the call still runs."""
    if lease is None or lease[0]() is None:
        return False
    while frame is not None:
        if id(frame) == lease[1]:
            return True
        if frames.category(frame.f_code.co_filename) == "user":
            return False
        frame = frame.f_back
    return False


def running(lease: Lease, frame: types.FrameType | None = None) -> bool:
    """Whether the lease's call is still on its thread's stack (from `frame`, its thread's
    own frame, or else the thread's current one)."""
    if lease[0]() is None:
        return False
    if frame is None:
        frame = sys._current_frames().get(lease[3])
    while frame is not None:
        if id(frame) == lease[1]:
            return True
        frame = frame.f_back
    return False


def where(lease: Lease) -> list[Any]:
    code = lease[2]
    return [code.co_filename, code.co_firstlineno, getattr(code, "co_qualname", code.co_name)]


def meet(st: Any, store: object, me: int, patience_s: float, wait: bool, again: bool) -> bool:
    """`me` holds `st`'s lock and enters after another thread: if another is inside a package
    call on it, record the meeting (unless this entry did already: `again`) and (`wait`) let
    the lock go and wait for that call. True: the lock was let go (take it again and look
    again); False: enter now."""
    start = clock.now()
    for other, lease in list(st.leases.items()):
        if other == me or lease is None or not running(lease):
            continue
        signature = _record_meeting(st, store, me, other, lease, again)
        clock.add(start)
        if not wait or signature in WENT_AHEAD:
            return False
        st.lock.release()
        _wait_for(st, me, other, lease, signature, patience_s)
        return True
    clock.add(start)
    return False


def _record_meeting(st: Any, store: object, me: int, other: int, lease: Lease,
                    again: bool) -> tuple[Any, ...]:  # fmt: skip
    frame = sys._getframe(3)  # the traced wrapper: meet <- enter <- wrapper
    mine = frames.capture(frame)
    theirs = frames.capture(sys._current_frames().get(lease[3]))
    signature = ("call", _line(mine), _line(theirs))
    if again:
        return signature
    st.meetings += 1
    if signature not in st.meeting_signatures and len(st.meeting_signatures) < MAX_EXAMPLES:
        st.meeting_signatures.add(signature)
        records.write_lazy("meeting", store=st.label, thread=me,
                           name=threading.current_thread().name, stack=mine, owner=other,
                           owner_name=records.name_of(other), owner_stack=theirs,
                           call=where(lease),
                           test=os.environ.get("PYTEST_CURRENT_TEST", ""))  # fmt: skip
    return signature


def _wait_for(st: Any, me: int, other: int, lease: Lease, signature: tuple[Any, ...],
              patience_s: float) -> None:  # fmt: skip
    """Until the other's call returns; after `patience_s` go ahead (a `stall` record)."""
    started = time.perf_counter_ns()
    deadline, pause = time.monotonic() + patience_s, 1e-5
    while running(lease):
        if time.monotonic() > deadline:
            with st._meta:
                WENT_AHEAD.add(signature)
                st.stalls += 1
            records.write_lazy("stall", store=st.label, level="call", thread=me,
                               name=threading.current_thread().name, owner=other,
                               owner_name=records.name_of(other), waited_s=patience_s,
                               went_ahead=True)  # fmt: skip
            break
        time.sleep(pause)
        pause = min(pause * 2, 1e-3)
    with st._meta:
        st.call_waited_ns += time.perf_counter_ns() - started


def interleaved(st: Any, store: object, me: int, lease: Lease,
                frame: types.FrameType) -> None:  # fmt: skip
    """`me` enters again within its package call after `st.last`'s entry: record it."""
    st.interleaves += 1
    stack = frames.capture(frame)
    signature = (_line(stack), lease[2], st.last)
    if signature in st.interleave_signatures or len(st.interleave_signatures) >= MAX_EXAMPLES:
        return
    st.interleave_signatures.add(signature)
    records.write_lazy("interleave", store=st.label, thread=me,
                       name=threading.current_thread().name, stack=stack, call=where(lease),
                       other=st.last,
                       other_name=st.names.get(st.last) or records.name_of(st.last))  # fmt: skip


def _line(stack: list[list[Any]]) -> tuple[str, int] | None:
    return (stack[-1][0], stack[-1][1]) if stack else None
