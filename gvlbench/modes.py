"""The lock states a call into Wasm runs under, defined once for every command.

- `held`: the interpreter lock is held for the whole call (wasmtime_func_call through
  ctypes.PyDLL). Other Python threads stop; Wasm on two threads never overlaps.
- `released`: the lock is released around the call, as wasmtime-py ships (ctypes.cdll).
  Wasm overlaps; host callbacks take the lock back; Python between calls is serialised.
- `as-shipped`: the lock is whatever the binding does, and gvlbench cannot change it: a
  compiled extension that calls its own engine from inside (a PyO3 module that releases the
  GIL around its calls, or does not). Whether it releases is *measured* (a sibling thread's
  progress), never assumed; a binding with no handle to hold the lock has no `held` mode.
- `free-threaded`: a CPython built with `--disable-gil`. There is no lock to hold or to
  release: Wasm *and* wasmtime-py's own Python code run on all threads at once. It is the
  only mode such an interpreter has, so `held` is never produced or judged there, and a
  check that compares held with released does not apply.

Both sides of the pipe import this module (it loads nothing): the child receives a mode in
its task and calls through `mode.loader`; the harness picks modes per interpreter with
`for_interpreter` and labels rows with `of_row`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any


class Mode(enum.StrEnum):
    """The lock during a call into Wasm: held, released, or absent (a free-threaded build)."""

    HELD = "held"
    RELEASED = "released"
    AS_SHIPPED = "as-shipped"
    FREE_THREADED = "free-threaded"

    @property
    def parallel(self) -> bool:
        """Wasm on two threads can run at the same time."""
        return self is not Mode.HELD

    @property
    def loader(self) -> Mode:
        """The ctypes handle a call goes through: PyDLL when held, CDLL otherwise. Without a
        GIL the two behave alike; CDLL is the one wasmtime-py uses."""
        return Mode.HELD if self is Mode.HELD else Mode.RELEASED

    @property
    def has_gil(self) -> bool:
        return self is not Mode.FREE_THREADED

    @property
    def lock(self) -> str:
        """The lock state in words, for tables and notes."""
        return {"held": "GIL held", "released": "GIL released", "free-threaded": "no GIL",
                "as-shipped": "the lock as the binding leaves it"}[self.value]  # fmt: skip


# What `--mode both` means on an interpreter with a GIL, in table order
GIL_MODES = (Mode.HELD, Mode.RELEASED)
# `--mode` choices: the user picks what to do with a GIL; free-threaded follows from --python
CHOICES = ("held", "released", "both")


# Not a mode: the name of a paired speedup's control cells ("control/2"), pure Wasm that
# needs no lock, timed in the same rounds as the modes' cells (binding/control.py).
CONTROL = "control"


def requested(choice: str) -> tuple[Mode, ...]:
    """`--mode held|released|both` as modes, before any interpreter is known."""
    return GIL_MODES if choice == "both" else (Mode(choice),)


def for_interpreter(modes: Iterable[Mode], free_threaded: bool) -> tuple[Mode, ...]:
    """The modes to measure on one interpreter. Free-threaded: the one mode it has, if any
    requested mode runs in parallel (`--mode held` alone measures nothing there). With a
    GIL: the requested modes, less `free-threaded`."""
    modes = tuple(modes)
    if free_threaded:
        return (Mode.FREE_THREADED,) if any(m.parallel for m in modes) else ()
    return tuple(m for m in modes if m.has_gil)


def of_row(md: Mapping[str, Any]) -> str:
    """The mode a results row (or failure) was measured in, as tables show it. Files written
    before free-threaded was a mode recorded `released` with `gil: disabled`: they read as
    free-threaded too. A failure may name a non-mode ("both")."""
    if md.get("gil") == "disabled":
        return str(Mode.FREE_THREADED)
    return str(md["mode"])


# One cell of a paired measurement: its mode and its thread count. A tuple everywhere in
# code; only JSON (a worker's answer, a results file) spells it as a "mode/threads" key,
# written by `cell_key` and read by `cell_of`, here and nowhere else.
# A paired speedup's cell: a mode (or the control, which needs no lock) at a thread count
Cell = tuple[Mode | str, int]


def cell_key(mode: Mode | str, threads: int) -> str:
    """The JSON key of a cell: "released/2", "control/2"."""
    return f"{mode}/{threads}"


def cell_of(key: str) -> Cell:
    """The cell a JSON key names; ValueError (naming the key) for anything else."""
    mode, _, threads = key.partition("/")
    try:
        cell = (mode if mode == CONTROL else Mode(mode), int(threads))
    except ValueError:
        raise ValueError(f"{key!r} is not a mode/threads cell") from None
    if cell[1] < 1 or cell_key(*cell) != key:
        raise ValueError(f"{key!r} is not a mode/threads cell")
    return cell
