"""The time the hook spends off its fast path in this process, timed as it is spent.

The fast path (an entry by the thread that entered last) is too short to time without
doubling it: overhead.py measures it once, at exit. Everything else the hook does inside the
program's calls (a Store's creation stack, a thread's first entry and the names that hold the
Store, a switch of threads, an overlap's two stacks, a count record, a Module's hash) is rare
and long enough to time with two clock reads, and is summed here. Waits for another thread
are not: they are the program's own serialised calls, counted per Store (`waited_ns`).
"""

from __future__ import annotations

import threading
import time

now = time.perf_counter_ns
_spent = [0]
_lock = threading.Lock()


def add(start_ns: int) -> None:
    """Add the time since `start_ns` (a `now()` reading) to what the hook spent."""
    elapsed = now() - start_ns
    with _lock:
        _spent[0] += elapsed


def spent_ns() -> int:
    return _spent[0]
