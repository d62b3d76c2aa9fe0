"""What a racing child's threads share: a tally each, their start and stop, their sum.

Both races use it: worker/race.py (N threads on one Store, or a Store each) and
worker/entry_race.py (one entry point raced against the Store's owner).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gvlbench.binding.guard import StoreInUseError
from gvlbench.protocol import announce_start

REFUSAL_BACKOFF_S = 0.001


@dataclass
class Tally:
    """What one racing thread did: its operations, refusals, exceptions and wrong results."""

    calls: int = 0
    refused: int = 0
    exceptions: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    wrong: int = 0
    wrong_example: str | None = None

    def bad(self, what: str) -> None:
        self.wrong += 1
        if self.wrong_example is None:
            self.wrong_example = what[:300]

    def refusal(self, exc: StoreInUseError) -> None:
        """Counted, then backed off as a real caller of a recoverable error would: a thread
        spinning on refusals would otherwise starve the owner, whose call needs the GIL."""
        time.sleep(REFUSAL_BACKOFF_S)
        self.refused += 1
        self.raised(exc)

    def raised(self, exc: Exception) -> None:
        name = type(exc).__name__
        self.exceptions[name] += 1
        self.examples.setdefault(name, str(exc)[:300])


def run_for(threads: list[threading.Thread], stop: threading.Event, duration_s: float) -> float:
    """Start the racing threads, stop them after `duration_s` (or die with them), and return
    the seconds they ran. The start is announced before the first thread starts: a thread can
    crash the process before the main thread runs again, and a crash with no start mark has
    no time to crash."""
    announce_start()
    start = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(duration_s)
    stop.set()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def merged(tallies: list[Tally]) -> dict[str, Any]:
    """Every thread's tally as one answer's counts (exceptions with one example per type)."""
    exceptions: Counter = Counter()
    examples: dict[str, str] = {}
    for t in tallies:
        exceptions.update(t.exceptions)
        examples.update(t.examples)
    return {"calls": sum(t.calls for t in tallies), "refused": sum(t.refused for t in tallies),
            "exceptions": dict(exceptions), "examples": examples}  # fmt: skip
