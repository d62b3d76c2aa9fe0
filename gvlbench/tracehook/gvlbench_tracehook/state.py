"""Who is inside each Store: the per-Store state every traced entry goes through.

An entry takes the Store's re-entrant lock without blocking; that failing is the finding:
another thread is inside the Store (an overlap), which with the interpreter lock released is
undefined behaviour. A package's one call (quickjs-rs's `Context.eval`) is often several
entries in a row (write the input into memory, call, read the result), so a Store is also
held between them: from a thread's first entry it is leased to the outermost package frame
below the user's code (`Context.eval`), and another thread arriving while that frame still
runs overlaps the call, though not an entry. Both are recorded at once with both threads'
stacks (the owner's read from sys._current_frames while it is parked), and then, as asked:
`wait` (the program lives, its calls serialised), `refuse` (StoreInUseError, what the
store-guard patch does) or `proceed` (record only; the undefined behaviour happens and the
records survive it).

The fast path, the same thread again, is one RLock acquire and release, a few attribute
writes and a dict increment; what it costs is measured at exit (overhead.py). Stacks are
taken only on a thread's first entry into a Store and on overlaps, never per entry.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from typing import Any

from gvlbench_tracehook import frames, records

MAX_EXAMPLES = 8  # overlaps with stacks per Store (distinct pairs of lines); all are counted
PATIENCE_S = 2.0  # the longest wait for another thread's call (it may wait on us): then a
# call's wait gives up (no entry is inside); an entry's goes on, with a `stall` record
FLUSH_EVERY = 4096  # entries between count records, after the powers of two up to it
CLOSE = "Store.close"  # the entry that frees a Store (closed, or collected)
PRIVATE = [False]  # set while the hook measures itself: its Store writes no records
_LIVE: dict[str, StoreState] = {}
_labels = {"next": 0, "lock": threading.Lock()}
_config = {"on_overlap": "wait"}


class StoreInUseError(RuntimeError):
    """A thread entered a Store another thread was inside (`gvlbench trace --refuse`)."""


def configure(on_overlap: str) -> None:
    _config["on_overlap"] = on_overlap


def live() -> list[StoreState]:
    return list(_LIVE.values())


def created() -> int:
    """How many Stores of the program's own this process made."""
    return _labels["next"]


def new_store(store: object, frame: types.FrameType | None) -> StoreState:
    """The state of a Store just made from `frame` (the caller of Store.__init__)."""
    with _labels["lock"]:
        _labels["next"] += 1
        label = f"S{_labels['next']}"
    creator = frames.innermost(frame, ("user", "site", "stdlib"))
    st = StoreState(label, PRIVATE[0], creator)
    if not st.private:
        _LIVE[label] = st
        records.write("store", store=label, thread=threading.get_native_id(),
                      name=threading.current_thread().name,
                      stack=frames.capture(frame))  # fmt: skip
    return st


def _innermost_line(stack: list[list[Any]]) -> tuple[str, int] | None:
    return (stack[-1][0], stack[-1][1]) if stack else None


class StoreState:
    def __init__(self, label: str, private: bool, creator: types.FrameType | None):
        self.label, self.private = label, private
        self.lock = threading.RLock()
        self._acquire, self._release = self.lock.acquire, self.lock.release
        self._meta = threading.Lock()  # overlap counters, touched by threads not holding `lock`
        self.owner = self.owner_ident = self.depth = self.last = 0
        self.lessee = self.lessee_ident = self.lease_depth = self.gave_up = 0
        self.lease_code: types.CodeType | None = None
        self.operation = ""
        self.counts: dict[int, int] = {}
        self.entries = self.switches = self.overlaps = self.waited_ns = 0
        self.flush_at = 1
        # per call: every entry so far came while the frame that made the Store was running
        self.creator = (id(creator), creator.f_code) if creator is not None else None
        self.creator_thread = threading.get_native_id()
        self.within_call = creator is not None and not private
        self.signatures: set[tuple[Any, ...]] = set()
        self.ended = ""

    def enter(self, store: object, operation: str) -> bool:
        """Enter the Store; False when this thread proceeds without holding it (`proceed`)."""
        contended = not self._acquire(False)
        if contended and not self._contended(store, operation, "entry"):
            return False
        me = threading.get_native_id()
        if self.depth == 0:
            if me != self.lessee and not self._lease(store, operation, me, contended):
                return False
            self.owner, self.owner_ident, self.operation = me, threading.get_ident(), operation
            if me != self.last:
                self._switch(store, me)
            if self.within_call and operation != CLOSE:  # freed as its maker returns
                self._check_call(me)
        self.depth += 1
        self.entries += 1
        counts = self.counts
        counts[me] = counts.get(me, 0) + 1
        if self.entries >= self.flush_at:
            self._flush()
        return True

    def _lease(self, store: object, operation: str, me: int, recorded: bool) -> bool:
        """This thread holds the lock and arrives after another: wait while the other's call
        still runs (releasing the lock, so that call can go on), then take the lease.
        `recorded`: this arrival was already recorded as an overlap (of an entry)."""
        start = time.perf_counter_ns()
        deadline, pause = time.monotonic() + PATIENCE_S, 1e-5
        while self.lessee not in (0, me) and self._lease_running():
            if not recorded:
                recorded = True
                self._release()
                if not self._contended(store, operation, "call"):
                    return False
                if _config["on_overlap"] == "proceed":
                    break
                continue
            if time.monotonic() > deadline:
                self.gave_up += 1
                break
            self._release()
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)
            self._acquire()
        if self.lessee not in (0, me):
            self.waited_ns += time.perf_counter_ns() - start
        self._take_lease(me)
        return True

    def _take_lease(self, me: int) -> None:
        """Lease the Store to the outermost package frame below this thread's own code (none
        when the code calls wasmtime directly: then only its entries hold the Store)."""
        frame, lease = sys._getframe(3), None
        while frame is not None:
            kind = frames.category(frame.f_code.co_filename)
            if kind == "user":
                break
            if kind == "site":
                lease = frame
            frame = frame.f_back
        self.lessee, self.lessee_ident = me, threading.get_ident()
        self.lease_code = lease.f_code if lease is not None and frame is not None else None
        self.lease_depth = _depth(lease) if self.lease_code is not None else 0

    def _lease_running(self) -> bool:
        """Whether the lessee is still in its call: a frame of the leased code at the same
        depth of its stack (the same call, or its next one from the same line)."""
        if self.lease_code is None:
            return False
        frame = sys._current_frames().get(self.lessee_ident)
        stack = []
        while frame is not None:
            stack.append(frame)
            frame = frame.f_back
        i = len(stack) - 1 - self.lease_depth
        return 0 <= i < len(stack) and stack[i].f_code is self.lease_code

    def leave(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.owner = 0
        self._release()

    def _switch(self, store: object, me: int) -> None:
        """Another thread than the last one enters: count it, and on its first entry say who
        it is and from where (with the names that hold the Store, once it is shared)."""
        if self.last:
            self.switches += 1
        self.last = me
        if me in self.counts or self.private:
            return
        frame = sys._getframe(2)
        user = frames.innermost(frame, ("user",)) or frames.innermost(frame, frames.KEPT)
        _record(
            "enter",
            store=self.label,
            thread=me,
            name=threading.current_thread().name,
            stack=lambda: frames.capture(frame),
            holders=lambda: frames.holders(user, store) if self.counts else [],
        )

    def _check_call(self, me: int) -> None:
        frame = sys._getframe(3)
        if me == self.creator_thread and self.creator is not None:
            ident, code = self.creator
            while frame is not None:
                if id(frame) == ident and frame.f_code is code:
                    return
                frame = frame.f_back
        self.within_call = False

    def _contended(self, store: object, operation: str, kind: str) -> bool:
        """Another thread is inside an entry (`kind` entry), or between the entries of its
        call (`call`): record it, then wait (True: this thread holds the lock), refuse or
        proceed (False)."""
        me = threading.get_native_id()
        owner, owner_operation = self._overlap(store, operation, kind, sys._getframe(1))
        on_overlap = _config["on_overlap"]
        if on_overlap == "refuse":
            raise StoreInUseError(
                f"Store {self.label} is in use by thread {_name_of(owner)!r} "
                f"({owner_operation}); {threading.current_thread().name!r} was refused "
                f"{operation} (gvlbench trace --refuse)"
            )
        if on_overlap == "proceed":
            if kind == "call" and self._acquire(False):
                return True
            with self._meta:
                self.counts[me] = self.counts.get(me, 0) + 1
            return False
        start = time.perf_counter_ns()
        if not self._acquire(timeout=PATIENCE_S):  # the owner may be waiting for this thread
            _record("stall", store=self.label, thread=me, name=threading.current_thread().name,
                    owner=owner, owner_name=_name_of(owner), waited_s=PATIENCE_S)  # fmt: skip
            self._acquire()
        if kind == "entry":  # a call's wait is timed whole by _lease
            self.waited_ns += time.perf_counter_ns() - start
        return True

    def _overlap(self, store: object, operation: str, kind: str,
                 caller: types.FrameType) -> tuple[int, str]:  # fmt: skip
        """Count the overlap; record it with both stacks if its pair of lines is new. The
        owner (its native id, and what it is doing), read before it can move on."""
        if kind == "entry":
            owner, owner_ident, owner_operation = self.owner, self.owner_ident, self.operation
        else:
            owner, owner_ident, owner_operation = self.lessee, self.lessee_ident, "its call"
        frame = caller.f_back  # the traced entry point's wrapper, or enter() for a call
        mine = frames.capture(frame)
        theirs = frames.capture(sys._current_frames().get(owner_ident)) if owner else []
        signature = (kind, _innermost_line(mine), _innermost_line(theirs))
        with self._meta:
            self.overlaps += 1
            new = signature not in self.signatures and len(self.signatures) < MAX_EXAMPLES
            self.signatures.add(signature)
        if new and not self.private:
            user = frames.innermost(frame, ("user",)) or frames.innermost(frame, frames.KEPT)
            _record("overlap", store=self.label, level=kind, thread=threading.get_native_id(),
                    name=threading.current_thread().name, operation=operation, stack=mine,
                    holders=lambda: frames.holders(user, store), owner=owner,
                    owner_name=_name_of(owner), owner_operation=owner_operation,
                    owner_stack=theirs)  # fmt: skip
        return owner, owner_operation

    def _flush(self) -> None:
        self.flush_at = self.flush_at * 2 if self.flush_at < FLUSH_EVERY else (
            self.flush_at + FLUSH_EVERY)  # fmt: skip
        self.write_counts("count")

    def write_counts(self, kind: str, **extra: Any) -> None:
        if self.private:
            return
        records.write(kind, store=self.label, entries=self.entries,
                      threads={str(k): v for k, v in dict(self.counts).items()},
                      switches=self.switches, overlaps=self.overlaps, waited_ns=self.waited_ns,
                      gave_up=self.gave_up, within_call=self.within_call, **extra)  # fmt: skip

    def end(self, how: str) -> None:
        """The Store is gone (`closed`) or outlived the program (`alive at exit`)."""
        if self.ended:
            return
        self.ended = how
        _LIVE.pop(self.label, None)
        self.write_counts("end", how=how)


def _record(kind: str, **fields: Any) -> None:
    """A record from inside the program's own call: callables among `fields` are evaluated
    here, and whatever goes wrong is a `hook-error` record, never the program's exception."""
    try:
        records.write(kind, **{k: v() if callable(v) else v for k, v in fields.items()})
    except Exception as exc:
        records.write("hook-error", where=kind, error=repr(exc))


def _depth(frame: types.FrameType | None) -> int:
    """How many frames are below (older than) `frame` on its thread's stack."""
    n = 0
    while frame is not None and frame.f_back is not None:
        frame = frame.f_back
        n += 1
    return n


def _name_of(native_id: int) -> str:
    if not native_id:
        return "(a thread entering or leaving)"
    for thread in threading.enumerate():
        if thread.native_id == native_id:
            return thread.name
    return f"thread {native_id}"
