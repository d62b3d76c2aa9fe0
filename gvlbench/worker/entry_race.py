"""The child's side of `race --entry-race NAME`: a Store entry point raced against its owner.

One owner thread makes the Store (so thread affinity's owner is the thread that works in it)
and works in it in a loop; the other threads use one entry point of the same Store at the
same time (designs.ENTRY_RACES). Each operation checks what it got against what any order of
whole operations could give, so a trial ends crashed (the harness reads the signal), wrong
(a result no sequential order explains: the race corrupted something and the program went
on), raised (refusals, exceptions) or survived. The guard, when there is one, is the design's
binding patch (designs.PATCHES), applied before any Store exists, so every entry point of
wasmtime-py's public API goes through it, as in a package that knows nothing of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import wasmtime

from gvlbench import scenario
from gvlbench.binding import patches
from gvlbench.binding.embed import load_module
from gvlbench.binding.guard import StoreInUseError
from gvlbench.binding.invoke import use_stock_mode
from gvlbench.designs import PATCHES
from gvlbench.protocol import RaceTask
from gvlbench.worker.racing import Tally, merged, run_for

PATTERN = b"gvlbench: the 64 bytes a reader of this memory must always see. "
WORK_N, WORK_SUM = 1000, 999 * 1000 // 2
# long calls, so that an intruder's operation lands inside one (not between two) more often
BURN_N, WATCH_N = 20_000, 100_000
REMAKE_AT = 5000  # instances the intruders put in a Store before its owner makes a new one
FUEL = 10**12


class World:
    """The Store the threads share, made (and remade) by its owner thread."""

    def __init__(self, task: RaceTask):
        self.race = task.entry
        self.engine = wasmtime.Engine(_config(self.race))
        self.module = load_module(self.engine, task.target.wasm_path)
        tiny = scenario.data_dirs()[1] / "tiny.wat"
        self.tiny = wasmtime.Module(self.engine, tiny.read_text())
        self.ready = threading.Event()
        self.fuel_per_burn = 0
        self.fuel_set = FUEL  # the fuel-set race's last amount set
        self.instances = 0
        self.current: tuple[wasmtime.Store, Any] | None = None

    def make(self) -> None:
        """A fresh Store and instance, published to the other threads (on the owner thread)."""
        store = wasmtime.Store(self.engine)
        if self.race == "fuel-set":
            store.set_fuel(FUEL)
        exports = wasmtime.Instance(store, self.module, []).exports(store)
        if self.race == "fuel-set" and not self.fuel_per_burn:
            exports["burn"](store, BURN_N)
            self.fuel_per_burn = FUEL - store.get_fuel()
            store.set_fuel(FUEL)
        self.current = (store, exports)
        self.instances = 0
        self.ready.set()


def _config(race: str) -> wasmtime.Config:
    config = wasmtime.Config()
    if race == "fuel-set":
        config.consume_fuel = True
    if race == "memory-read-dynamic":  # no reservation: every grow moves the memory
        config.memory_reservation = 0
        config.memory_reservation_for_growth = 0
        config.memory_may_move = True
    return config


# -- what each side does, once; False (or a message) when the result is one no order explains


def _owner_op(world: World) -> str | None:
    store, ex = world.current  # type: ignore[misc]
    race = world.race
    if race == "instantiate":
        if world.instances >= REMAKE_AT:  # a fresh Store before its 10,000-instance limit
            world.make()
            store, ex = world.current  # type: ignore[misc]
        got = ex["work"](store, WORK_N)
        return None if got == WORK_SUM else f"work({WORK_N}) returned {got}, alone {WORK_SUM}"
    if race.startswith("memory-read"):
        if ex["grow"](store) == -1:  # at the maximum: a fresh Store, so growing goes on
            world.make()
        return None
    if race == "fuel-set":
        try:
            ex["burn"](store, BURN_N)
        except wasmtime.Trap as exc:
            return f"burn({BURN_N}) trapped with fuel to spare: {exc}".splitlines()[0]
        return None
    changed = ex["watch"](store, WATCH_N)  # global-set
    return "the global changed during a call that does not write it" if changed else None


def _intruder_op(world: World, index: int, n: int) -> str | None:
    store, ex = world.current  # type: ignore[misc]
    race = world.race
    if race == "instantiate":
        wasmtime.Instance(store, world.tiny, [])
        world.instances += 1  # a lost count now and then is harmless: the limit is far
        return None
    if race.startswith("memory-read"):
        got = bytes(ex["memory"].read(store, 0, len(PATTERN)))
        return None if got == PATTERN else f"read {got!r}, the data segment is {PATTERN!r}"
    if race == "fuel-set":
        if index != 1:  # the other intruders read: only one thread's values can be judged
            store.get_fuel()
            return None
        # What is left must be the amount this thread set last, less whole calls of the
        # owner's. It sets a new amount each time, so a call that was running when it was set
        # and writes its own count back when it returns (a lost update) leaves an amount that
        # is no set one less whole calls.
        left, last, per = store.get_fuel(), world.fuel_set, world.fuel_per_burn
        store.set_fuel(FUEL + n)
        world.fuel_set = FUEL + n
        spent = last - left
        if spent < 0 or spent % per:
            return f"set fuel {last}, read {left} later: not less a whole number of calls ({per})"
        return None
    ex["global"].set_value(store, n)  # global-set
    return None


def run_entry_race(task: RaceTask) -> dict[str, Any]:
    """The owner and the intruders for `duration_s`, or until the process dies."""
    use_stock_mode(task.mode)
    if task.guard:
        patches.apply((PATCHES[task.guard_kind],), task.mode)
    world = World(task)
    stop = threading.Event()
    tallies = [Tally() for _ in range(max(task.threads, 2))]
    threads = [threading.Thread(target=_owner, args=(world, tallies[0], stop),
                                name="gvlbench-owner", daemon=True)]  # fmt: skip
    threads += [threading.Thread(target=_intruder, args=(world, t, stop, i),
                                 name=f"gvlbench-{i}", daemon=True)
                for i, t in enumerate(tallies[1:], 1)]  # fmt: skip
    return _answer(tallies, run_for(threads, stop, task.duration_s))


def _owner(world: World, tally: Tally, stop: threading.Event) -> None:
    _guarded_step(tally, world.make)
    _loop(lambda: _owner_op(world), tally, stop)


def _intruder(world: World, tally: Tally, stop: threading.Event, index: int) -> None:
    while not world.ready.wait(0.1):
        if stop.is_set():
            return
    counter = iter(range(index, 1 << 62, 1 << 10))  # each intruder's values its own
    _loop(lambda: _intruder_op(world, index, next(counter)), tally, stop)


def _loop(op: Callable[[], str | None], tally: Tally, stop: threading.Event) -> None:
    while not stop.is_set():
        _guarded_step(tally, op)


def _guarded_step(tally: Tally, op: Callable[[], Any]) -> None:
    """One operation: counted, and judged; a refusal backs off as a real caller would."""
    try:
        wrong = op()
        tally.calls += 1
        if wrong:
            tally.bad(wrong)
    except StoreInUseError as exc:
        tally.refusal(exc)
    except Exception as exc:
        tally.raised(exc)


def _answer(tallies: list[Tally], elapsed_s: float) -> dict[str, Any]:
    wrong = [t.wrong_example for t in tallies if t.wrong_example]
    return {
        "elapsed_s": elapsed_s,
        **merged(tallies),
        "owner_ops": tallies[0].calls,
        "compared": True,
        "wrong": sum(t.wrong for t in tallies),
        "wrong_example": wrong[0] if wrong else None,
    }
