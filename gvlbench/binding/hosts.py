"""The fixed registry of host behaviours a scenario spec may import.

Specs are data: they name a behaviour from this registry and never carry code. Each behaviour
has a fixed Wasm signature (checked against the module's import at link time by wasmtime) and
a factory that builds the Python callable from the per-Store `HostContext`. Every callable is
Python, so every callback re-takes the interpreter lock, whatever the call's mode.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class HostError(Exception):
    """Raised on purpose by the `raise` behaviour; carries the value Wasm passed in and the
    thread that raised it, so an exception that reaches another thread's caller (wasmtime-py's
    module-global hand-off: the known defect exceptions-concurrent) is detectable."""

    def __init__(self, message: str, thread: int | None = None):
        super().__init__(message)
        self.thread = thread


@dataclass
class HostContext:
    """What host behaviours may read and record, one per Store.

    `counter` reads the sibling thread's progress counter (0 when nobody counts);
    `marks` collects (which, counter value, perf_counter seconds) from `mark` calls.
    """

    counter: Callable[[], int] = lambda: 0
    marks: list[tuple[int, int, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Behaviour:
    name: str
    params: tuple[str, ...]
    results: tuple[str, ...]
    doc: str
    factory: Callable[[HostContext], Callable[..., Any]]


def _mark(ctx: HostContext) -> Callable[[int], None]:
    def mark(which: int) -> None:
        # Read the counter before anything else: this is the instant the spec measures.
        value = ctx.counter()
        ctx.marks.append((which, value, time.perf_counter()))

    return mark


def _raise(ctx: HostContext) -> Callable[[int], int]:
    def raise_(value: int) -> int:
        me = threading.get_ident()
        raise HostError(f"host raised for {value} in thread {me}", thread=me)

    return raise_


def _abort(ctx: HostContext) -> Callable[[], None]:
    def abort() -> None:
        os.abort()

    return abort


def _gc_collect(ctx: HostContext) -> Callable[[], None]:
    def collect() -> None:
        gc.collect()

    return collect


BEHAVIOURS: dict[str, Behaviour] = {
    b.name: b
    for b in (
        Behaviour("mark", ("i32",), (), "record the sibling counter (0 = start, 1 = end)", _mark),
        Behaviour(
            "add_one",
            ("i32",),
            ("i32",),
            "return x + 1 (the PR's host_add)",
            lambda ctx: lambda x: x + 1,
        ),
        Behaviour(
            "nop", (), (), "do nothing (the cost of a bare callback)", lambda ctx: lambda: None
        ),
        Behaviour("raise", ("i32",), ("i32",), "raise HostError carrying x", _raise),
        Behaviour("abort", (), (), "abort the process (SIGABRT), to test crash reporting", _abort),
        Behaviour("gc_collect", (), (), "run a full garbage collection", _gc_collect),
        Behaviour(
            "wrong_arity",
            ("i32",),
            ("i32",),
            "return two results where one is declared",
            lambda ctx: lambda x: (x, x),
        ),
    )
}


def names() -> list[str]:
    return sorted(BEHAVIOURS)


def get(name: str) -> Behaviour:
    """Look a behaviour up; KeyError means the spec named one that does not exist."""
    return BEHAVIOURS[name]
