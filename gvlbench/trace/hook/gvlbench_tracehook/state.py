"""Who is inside each Store: the per-Store state every traced entry goes through.

An entry takes the Store's re-entrant lock without blocking; that failing is the finding:
another thread is inside one of the Store's entry points at this very moment (an overlap),
which with the interpreter lock released is undefined behaviour. It is recorded with both
threads' stacks (the owner's read from sys._current_frames while it is inside), and then, as
asked: `wait` for the owner to leave (the program lives, its entries serialised), `refuse`
(StoreInUseError, what the store-guard patch does) or `proceed` (record only; the undefined
behaviour happens and the records survive it).

A wait never hangs a program that runs untraced: after PATIENCE_S the owner is looked at, and
if it is running Python of its own inside its entry (a host callback, a finaliser: it may be
waiting for this very thread), the waiting entry goes ahead (a `stall` record says so), and
so does every later overlap at the same pair of lines, at once. An owner running Wasm is
waited for: it leaves by itself.

A package's one call is often many entries (quickjs-rs's `Context.eval` writes its input
into memory, calls, reads the result), so a thread also leases the Store for the package call
it entered from, for exactly as long as that call runs (calls.py): another thread arriving
meanwhile is a `meeting` (waited out in `wait` mode, recorded, never an overlap), and a thread
coming back to its call after another's entry an `interleave`. Freeing a Store (close, or its
collection in whatever thread the garbage collector runs) is guarded like an entry but is not
a thread's use of the Store.

The fast path, the same thread again, is one RLock acquire and release, a few attribute
writes and a dict increment; what it costs is measured at exit (overhead.py), and the time
spent off it (stacks, records) is timed as it is spent (clock.py). Stacks are taken on a
thread's first entry into a Store and on overlaps only, never per entry.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import types
from typing import Any

from . import calls, clock, frames, records

MAX_EXAMPLES = 8  # overlaps with stacks per Store (distinct pairs of lines); all are counted
PATIENCE_S = 2.0  # a wait this long looks at the owner: running Python, it may wait for us
SETTLE_S = 0.001  # a look at whether a holder that is not inside has gone in or let go
FLUSH_EVERY = 4096  # entries between count records, after the powers of two up to it
CLOSE = "Store.close"  # the entry that frees a Store (closed, or collected)
STORE = "wasmtime.Store"
PRIVATE = [False]  # set while the hook measures itself: its Store writes no records
_LIVE: dict[str, ObjectState] = {}
_labels = {"next": 0, "lock": threading.Lock()}
_config = {"on_overlap": "wait"}
_native_id, _ident = threading.get_native_id, threading.get_ident


class StoreInUseError(RuntimeError):
    """A thread entered a Store another thread was inside (`gvlbench trace --refuse`)."""


def configure(on_overlap: str) -> None:
    _config["on_overlap"] = on_overlap


def live() -> list[ObjectState]:
    return list(_LIVE.values())


def created() -> int:
    """How many watched objects of the program's own this process made."""
    return _labels["next"]


def new_store(store: object, frame: types.FrameType | None) -> ObjectState:
    """The state of a wasmtime Store just made from `frame` (the caller of Store.__init__)."""
    return new_object(store, frame, STORE)


def new_object(obj: object, frame: types.FrameType | None, cls: str,
               serialised: bool = False) -> ObjectState:  # fmt: skip
    """The state of a watched object (of class `cls`, `module.Class`) made from `frame`, or
    first entered from it where its making is not seen. `serialised`: the object serialises
    its callers itself (a Rust mutex), so an overlap is recorded and never waited out."""
    start = clock.now()
    with _labels["lock"]:
        _labels["next"] += 1
        label = f"S{_labels['next']}"
    creator = frames.innermost(frame, ("user", "site", "stdlib"))
    st = ObjectState(label, PRIVATE[0], creator, cls, serialised)
    if not st.private:
        _LIVE[label] = st
        records.write("object", store=label, cls=cls, thread=_native_id(),
                      name=threading.current_thread().name, serialised=serialised,
                      stack=frames.capture(frame))  # fmt: skip
        clock.add(start)
    return st


def current_test() -> str:
    """The test running now, under pytest (its node id and phase): what a finding names."""
    return os.environ.get("PYTEST_CURRENT_TEST", "")


def _innermost_line(stack: list[list[Any]]) -> tuple[str, int] | None:
    return (stack[-1][0], stack[-1][1]) if stack else None


class ObjectState:
    """Who is inside one watched object (a Store, a Plugin, a codec): every traced entry
    goes through here."""

    def __init__(self, label: str, private: bool, creator: types.FrameType | None,
                 cls: str = "", serialised: bool = False):  # fmt: skip
        self.label, self.private, self.cls, self.serialised = label, private, cls, serialised
        self.lock = threading.RLock()
        self._acquire, self._release = self.lock.acquire, self.lock.release
        self._meta = threading.Lock()  # what threads not holding `lock` write
        self.owner = self.owner_ident = self.depth = self.last = self.last_ident = 0
        self.operation = ""
        self.counts: dict[int, int] = {}
        self.names: dict[int, str] = {}  # each thread's name at its first entry
        self.entries = self.switches = self.overlaps = 0
        self.ahead = 0  # entries that went in beside another thread (proceed, or a stall)
        self.beside: dict[int, int] = {}  # threads inside unheld, and how deep
        self.waited_ns = self.stalls = 0
        self.flush_at = 1
        # per call: every entry (looked at on the flush schedule) came while the frame that
        # made the Store was running, on its thread
        self.creator = (id(creator), creator.f_code) if creator is not None else None
        self.creator_thread = _native_id()
        self.within_call = creator is not None and not private
        self.signatures: set[tuple[Any, ...]] = set()
        self.leases: dict[int, calls.Lease | None] = {}  # each thread's package call
        self.meetings = self.interleaves = self.call_waited_ns = 0
        self.meeting_signatures: set[tuple[Any, ...]] = set()
        self.interleave_signatures: set[tuple[Any, ...]] = set()
        self.ended = ""

    def enter(self, store: object, operation: str) -> bool:
        """Enter the Store; False when this thread goes in without holding it (`proceed`, or
        after a stall): then `step_out`, not `leave`, when it is done."""
        met = False
        while True:
            if not self._acquire(False) and not self._contended(store, operation):
                return False
            me = _native_id()
            if self.depth or me == self.last or self.private:
                break
            wait = self.on_overlap() == "wait"
            if not calls.meet(self, store, me, PATIENCE_S, wait, met):
                break
            met = True  # it waited for another thread's package call, the lock let go
        if self.depth == 0:
            self.owner, self.owner_ident, self.operation = me, _ident(), operation
            lease = self.leases.get(me)
            wrapper = sys._getframe(1)
            same = calls.current(lease, wrapper)
            if not same:  # its last package call returned: this entry's
                lease = self.leases[me] = calls.take(wrapper)
            if me != self.last:
                self._switch(store, me, lease if same else None)
        self.depth += 1
        self.entries += 1
        counts = self.counts
        counts[me] = counts.get(me, 0) + 1
        if self.entries >= self.flush_at:
            self._flush(me)
        return True

    def closing(self, store: object) -> bool:
        """Free the Store: guarded as an entry (another thread inside is an overlap), but
        not a use (the garbage collector frees a dead Store in whatever thread it runs)."""
        if not self._acquire(False) and not self._contended(store, CLOSE):
            return False
        if self.depth == 0:
            self.owner, self.owner_ident, self.operation = _native_id(), _ident(), CLOSE
        self.depth += 1
        return True

    def leave(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.owner = 0
        self._release()

    def step_out(self) -> None:
        """The end of an entry this thread made beside another (enter returned False)."""
        me = _native_id()
        with self._meta:
            depth = self.beside.get(me, 0) - 1
            if depth > 0:
                self.beside[me] = depth
            else:
                self.beside.pop(me, None)

    def _switch(self, store: object, me: int, lease: calls.Lease | None) -> None:
        """Another thread than the last one enters: count it; if it is still in the package
        call of its entry before (`lease`), that call interleaved with another thread's
        entry; on its first entry, say who it is and from where (with the names that hold
        the Store, once it is shared)."""
        start = clock.now()
        frame = sys._getframe(2)  # the traced entry point's wrapper
        if self.last:
            self.switches += 1
            if lease is not None and not self.private:
                calls.interleaved(self, store, me, lease, frame)
        self.last, self.last_ident = me, _ident()
        if me not in self.counts and not self.private:
            self._first_entry(store, me, frame)
        clock.add(start)

    def _first_entry(self, store: object, me: int, frame: types.FrameType) -> None:
        user = frames.innermost(frame, ("user",)) or frames.innermost(frame, frames.KEPT)
        name = self.names[me] = threading.current_thread().name
        records.write_lazy(
            "enter",
            store=self.label,
            thread=me,
            name=name,
            stack=lambda: frames.capture(frame),
            holders=lambda: frames.holders(user, store) if self.counts else [],
        )

    def _within_call(self, me: int) -> None:
        """Whether this entry, too, came while the Store's creating frame was running (a
        walk down the whole stack: done on the flush schedule, not per entry)."""
        frame = sys._getframe(3)
        if me == self.creator_thread and self.creator is not None:
            ident, code = self.creator
            while frame is not None:
                if id(frame) == ident and frame.f_code is code:
                    return
                frame = frame.f_back
        self.within_call = False

    def _contended(self, store: object, operation: str) -> bool:
        """Another thread is inside: record it, then wait (True: this thread holds the lock),
        refuse (raise) or go in beside it (False)."""
        me = _native_id()
        caller = sys._getframe(1)  # enter() or closing()
        if me in self.beside:  # an entry inside its own entry that went in beside the owner
            self._ahead(store, me, caller)
            return False
        if self._settled():
            return True
        start = clock.now()
        owner, owner_operation, signature = self._overlap(store, operation, caller)
        clock.add(start)
        on_overlap = self.on_overlap()
        if on_overlap == "refuse":
            raise StoreInUseError(
                f"Store {self.label} is in use by thread {records.name_of(owner)!r} "
                f"({owner_operation}); {threading.current_thread().name!r} was refused "
                f"{operation} (gvlbench trace --refuse)"
            )
        if on_overlap == "wait" and self._wait(signature):
            return True
        self._ahead(store, me, caller, counted=operation != CLOSE)
        return False

    def on_overlap(self) -> str:
        """What a thread entering while another is inside does: as asked (wait, refuse,
        proceed), except at an object that serialises its callers itself, which is only
        recorded (waiting would add the hook's serialisation to its own)."""
        return "proceed" if self.serialised else _config["on_overlap"]

    def _settled(self) -> bool:
        """The lock's holder may not be inside the Store at all: it holds the lock while it
        decides whether to enter (looking for a meeting, and recording one, before it lets go
        to wait for another thread's package call; taking a first entry's stack), or while
        it leaves. No overlap then: wait for it to let go (True: this thread holds the lock
        now) or to go in after all (False: someone is inside, an overlap). A holder goes in
        or lets go within moments, so the waits are short."""
        while self.depth == 0:
            if self._acquire(timeout=SETTLE_S):
                return True
        return False

    def _wait(self, signature: tuple[Any, ...]) -> bool:
        """Wait for the owner to leave: True, this thread then holds the Store. False: it
        goes ahead without it, because the owner, after PATIENCE_S, is running Python inside
        its entry (it may be waiting for this thread: a host callback that hands work to
        another thread), or because this pair of lines stalled so before."""
        if signature in calls.WENT_AHEAD:
            return False
        start, stalled = time.perf_counter_ns(), False
        held = True
        while not self._acquire(timeout=PATIENCE_S):
            owner = self.owner
            busy = _running_python(self.owner_ident)
            if not stalled:
                stalled = True
                records.write_lazy("stall", store=self.label, level="entry", thread=_native_id(),
                                   name=threading.current_thread().name, owner=owner,
                                   owner_name=records.name_of(owner), waited_s=PATIENCE_S,
                                   went_ahead=busy)  # fmt: skip
            if busy:
                held = False
                break
        with self._meta:
            self.waited_ns += time.perf_counter_ns() - start
            if stalled:
                self.stalls += 1
            if not held:
                calls.WENT_AHEAD.add(signature)
        return held

    def _ahead(self, store: object, me: int, caller: types.FrameType,
               counted: bool = True) -> None:  # fmt: skip
        """This thread goes in beside the owner, unheld: its entry is counted all the same
        (`counted`: an entry, not the Store's freeing)."""
        with self._meta:
            self.beside[me] = self.beside.get(me, 0) + 1
            if not counted:
                return
            self.ahead += 1
            first = me not in self.counts
            self.counts[me] = self.counts.get(me, 0) + 1
        if first and not self.private:
            self._first_entry(store, me, caller.f_back)

    def _overlap(self, store: object, operation: str,
                 caller: types.FrameType) -> tuple[int, str, tuple[Any, ...]]:  # fmt: skip
        """Count the overlap; record it with both stacks if its pair of lines is new. The
        owner (its native id, and what it is doing), read before it can move on, and the
        pair of lines."""
        owner, owner_ident, owner_operation = self.owner, self.owner_ident, self.operation
        frame = caller.f_back  # the traced entry point's wrapper
        mine = frames.capture(frame)
        theirs = frames.capture(sys._current_frames().get(owner_ident)) if owner else []
        signature = (_innermost_line(mine), _innermost_line(theirs))
        with self._meta:
            self.overlaps += 1
            new = signature not in self.signatures and len(self.signatures) < MAX_EXAMPLES
            self.signatures.add(signature)
        if new and not self.private:
            user = frames.innermost(frame, ("user",)) or frames.innermost(frame, frames.KEPT)
            records.write_lazy("overlap", store=self.label, thread=_native_id(),
                               name=threading.current_thread().name, operation=operation,
                               stack=mine, holders=lambda: frames.holders(user, store),
                               owner=owner, owner_name=records.name_of(owner),
                               owner_operation=owner_operation, owner_stack=theirs,
                               test=current_test())  # fmt: skip
        return owner, owner_operation, signature

    def _flush(self, me: int) -> None:
        start = clock.now()
        self.flush_at = self.flush_at * 2 if self.flush_at < FLUSH_EVERY else (
            self.flush_at + FLUSH_EVERY)  # fmt: skip
        if self.within_call:
            self._within_call(me)
        self.write_counts("count")
        clock.add(start)

    def write_counts(self, kind: str, **extra: Any) -> None:
        if self.private:
            return
        with self._meta:
            threads = {str(k): v for k, v in dict(self.counts).items()}
            entries, overlaps, waited_ns = self.entries + self.ahead, self.overlaps, self.waited_ns
        records.write(kind, store=self.label, entries=entries, threads=threads,
                      switches=self.switches, overlaps=overlaps, waited_ns=waited_ns,
                      stalls=self.stalls, ahead=self.ahead, meetings=self.meetings,
                      call_waited_ns=self.call_waited_ns, interleaves=self.interleaves,
                      within_call=self.within_call, **extra)  # fmt: skip

    def end(self, how: str) -> None:
        """The Store is gone (`closed`) or outlived the program (`alive at exit`)."""
        if self.ended:
            return
        self.ended = how
        _LIVE.pop(self.label, None)
        self.write_counts("end", how=how)


def _running_python(ident: int) -> bool:
    """Whether a thread inside an entry is running Python of its own there (a host
    callback, a finaliser), rather than Wasm or wasmtime-py: its innermost frame is neither
    wasmtime-py's nor this hook's."""
    frame = sys._current_frames().get(ident) if ident else None
    return frame is not None and frames.category(frame.f_code.co_filename) not in (
        "wasmtime", "hook")  # fmt: skip
