"""The Store-ownership guard: one thread inside a Store at a time, or a recoverable error.

With the lock released, two threads in one Store is undefined behaviour: Wasmtime aborts (a
Rust panic in its unwinder) or segfaults. The guard turns that into `StoreInUseError`, raised
in the thread that tried second, naming the Store and both threads; the process lives.

It is re-entrant (a host callback running on the owning thread may use the Store again) and
never blocks: a contended entry is refused at once, as wasmtime-py issue #254 proposes
("record the thread ... and assert on it"). `GuardedStore` is the only door to a guarded Store:
calls, memory read/write/grow, globals, fuel and epoch all pass through `entered()`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import wasmtime

from gvlbench.binding import internals


class StoreInUseError(RuntimeError):
    """A thread tried to enter a Store another thread is inside. Recoverable: retry later."""

    def __init__(self, store: str, operation: str, owner: str, intruder: str,
                 design: str = ""):  # fmt: skip
        held = (f"belongs to thread {owner!r} (thread affinity)" if design == "affinity"
                else f"is in use by thread {owner!r}")  # fmt: skip
        super().__init__(f"store {store!r} {held}; thread {intruder!r} was refused {operation}")
        self.store, self.operation, self.owner, self.intruder = store, operation, owner, intruder
        self.design = design


class StoreGuard:
    """A non-blocking, re-entrant ownership lock for one Store.

    The fast path is one `RLock.acquire(False)` and one `release()`, both C: no bookkeeping.
    Who owns the Store is only worked out when an entry is refused (from the lock itself).
    """

    def __init__(self, name: str):
        self.name = name
        self._lock = threading.RLock()
        self.acquire = self._lock.acquire
        self.release = self._lock.release
        self.refused = 0

    def refuse(self, operation: str) -> NoReturn:
        self.refused += 1
        raise StoreInUseError(self.name, operation, self._owner(), threading.current_thread().name)

    def _owner(self) -> str:
        ident = internals.rlock_owner(self._lock)
        for t in threading.enumerate():
            if t.ident == ident:
                return t.name
        return f"thread {ident}" if ident else "(it has just left)"

    def enter(self, operation: str = "a call") -> None:
        if not self.acquire(False):
            self.refuse(operation)

    def exit(self) -> None:
        self.release()

    @contextmanager
    def entered(self, operation: str) -> Iterator[None]:
        if not self.acquire(False):
            self.refuse(operation)
        try:
            yield
        finally:
            self.release()


def guarded(call: Callable[[], Any], guard: StoreGuard) -> Callable[[], Any]:
    """`call` with the guard around it: the hot path is what the guard costs per call."""
    acquire, release, refuse = guard.acquire, guard.release, guard.refuse

    def guarded_call() -> Any:
        if not acquire(False):
            refuse("a call")
        try:
            return call()
        finally:
            release()

    return guarded_call


class GuardedStore:
    """Every Store operation the harness performs, each one through the guard."""

    def __init__(self, store: wasmtime.Store, name: str):
        self._store = store
        self.guard = StoreGuard(name)

    def call(self, func: wasmtime.Func, *args: Any) -> Any:
        with self.guard.entered("a call"):
            return func(self._store, *args)

    def memory_read(self, memory: wasmtime.Memory, start: int, stop: int) -> bytearray:
        with self.guard.entered("memory.read"):
            return memory.read(self._store, start, stop)

    def memory_write(self, memory: wasmtime.Memory, data: bytes, start: int) -> int:
        with self.guard.entered("memory.write"):
            return memory.write(self._store, data, start)

    def memory_grow(self, memory: wasmtime.Memory, delta: int) -> int:
        with self.guard.entered("memory.grow"):
            return memory.grow(self._store, delta)

    def memory_size(self, memory: wasmtime.Memory) -> int:
        with self.guard.entered("memory.size"):
            return memory.size(self._store)

    def global_get(self, glob: wasmtime.Global) -> Any:
        with self.guard.entered("global.get"):
            return glob.value(self._store)

    def global_set(self, glob: wasmtime.Global, value: Any) -> None:
        with self.guard.entered("global.set"):
            glob.set_value(self._store, value)

    def set_fuel(self, fuel: int) -> None:
        with self.guard.entered("set_fuel"):
            self._store.set_fuel(fuel)

    def get_fuel(self) -> int:
        with self.guard.entered("get_fuel"):
            return self._store.get_fuel()

    def set_epoch_deadline(self, ticks: int) -> None:
        with self.guard.entered("set_epoch_deadline"):
            self._store.set_epoch_deadline(ticks)
