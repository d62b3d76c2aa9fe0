"""The Store guard designs and the Store entry points they guard: names both sides share.

wasmtime-rb PR #603 released the GVL with no guard; its reviewer's objection was that a guard
would have to sit on *every* Store entry point ("Memory#read/#write, Global, Table, Store#data,
fuel"), where every user pays it. gvlbench prices and races each design on each entry point:

- `none`: wasmtime-py as it is.
- `python`: the guard written in the worker's language (binding/guard.py, or the Ruby
  worker's StoreGuard): a non-blocking re-entrant lock.
- `native`: the owner word in C (gvlbench/native/guard.c): one compare-and-swap of the
  entering thread's id; re-entry from a host callback and moving a Store between threads are
  admitted, a second thread inside at once is refused.
- `affinity`: the owner fixed when the Store is made (wasmtime-py #217, PyO3's `unsendable`):
  one load and compare, and every other thread is refused, even a Store handed over.
- `mutex`: a recursive mutex in C: a second thread waits instead of being refused.

The names are data here so the harness can plan and check them without loading a binding.
"""

from __future__ import annotations

# Every guard a race or a cost row can name, in the order tables show them ("native" is the
# owner word: its name since it was gvlbench's only native guard, kept so old files read).
GUARDS = ("python", "native", "affinity", "mutex")
NATIVE = ("native", "affinity", "mutex")

LABELS = {
    "none": "no guard",
    "python": "Python/Ruby guard",
    "native": "owner word",
    "affinity": "thread affinity",
    "mutex": "mutex",
}

# The binding patch that puts each design on every Store an unmodified package makes.
PATCHES = {
    "python": "store-guard",
    "native": "store-guard-native",
    "affinity": "store-guard-affinity",
    "mutex": "store-guard-mutex",
}

# Store entry points whose guard cost `race --guard-cost` measures, beside the call:
# name -> what one operation is (wat/entries.wat's memory, global and table).
ACCESSORS = {
    "memory.size": "the memory's size in pages",
    "memory.read": "64 bytes copied out of linear memory",
    "memory.write": "64 bytes copied into linear memory",
    "global.get": "a mutable i64 global read",
    "global.set": "a mutable i64 global written",
    "table.get": "a funcref table's element 0 read",
    "fuel.get": "the Store's fuel read",
    "fuel.set": "the Store's fuel written",
}
ENTRIES = ("call", *ACCESSORS)

# Races on a Store entry point other than the call: one owner thread makes the Store and
# works in it, the other threads use the entry point at the same time. name -> (what races,
# what a wrong result is). worker/entry_race.py has one pair of operations per name.
ENTRY_RACES = {
    "instantiate": (
        "threads instantiate a module into the Store while its owner calls an export",
        "the owner's call returned something other than its result alone",
    ),
    "memory-read-static": (
        "threads read memory (Memory.read) while the owner's Wasm grows it; static memory: "
        "a 4 GiB reservation, so growing never moves it",
        "the bytes read differ from the data segment's pattern",
    ),
    "memory-read-dynamic": (
        "the same with dynamic memory (Config.memory_reservation = 0, "
        "memory_reservation_for_growth = 0): every grow moves the memory",
        "the bytes read differ from the data segment's pattern",
    ),
    "fuel-set": (
        "a thread reads the Store's fuel, then sets a new amount, while the owner's Wasm burns "
        "fuel (any other threads only read it)",
        "the fuel read is not the amount that thread set last, less a whole number of the "
        "owner's calls",
    ),
    "global-set": (
        "threads set a mutable global while the owner's Wasm watches it",
        "the owner's call saw the global change during the call",
    ),
}

# The legal uses a design may refuse: `move`, a Store made on one thread and used on a
# ThreadPoolExecutor worker; `reentry`, a host callback calling back into its own Store.
LEGAL_USES = {
    "move": "a Store made on one thread, then called from a ThreadPoolExecutor worker",
    "reentry": "a host callback calling back into its own Store (a call and a memory read)",
}
