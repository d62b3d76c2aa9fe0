"""The Store guard with real threads and a real Store: every operation is refused while another
thread is inside, allowed again after, and re-entrant for the thread that owns the Store."""

from __future__ import annotations

import threading

import pytest
import wasmtime

from gvlbench.binding.guard import GuardedStore, StoreGuard, StoreInUseError, guarded

WAT = """
(module
  (import "host" "inside" (func $inside))
  (memory (export "mem") 1 4)
  (global (export "g") (mut i32) (i32.const 7))
  (func (export "run") (call $inside))
  (func (export "nop")))
"""


@pytest.fixture
def store_inside():
    """A GuardedStore whose owner thread is parked inside a host callback of a running call."""
    config = wasmtime.Config()
    config.consume_fuel = True
    config.epoch_interruption = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    store.set_fuel(10**9)
    store.set_epoch_deadline(10**6)
    entered, leave = threading.Event(), threading.Event()
    reentered: list[int] = []
    holder: dict[str, GuardedStore] = {}

    def inside() -> None:
        # the owner may use its own Store again from a callback: the guard is re-entrant
        reentered.append(holder["gs"].memory_size(exports["mem"]))
        entered.set()
        leave.wait(30)

    linker = wasmtime.Linker(engine)
    linker.define_func("host", "inside", wasmtime.FuncType([], []), inside)
    instance = linker.instantiate(store, wasmtime.Module(engine, wasmtime.wat2wasm(WAT)))
    exports = instance.exports(store)
    gs = holder["gs"] = GuardedStore(store, "store-A")
    owner = threading.Thread(target=gs.call, args=(exports["run"],), name="owner-thread")
    owner.start()
    assert entered.wait(30)
    yield gs, exports, leave, owner
    leave.set()
    owner.join()
    assert reentered == [1]


def _operations(exports):
    mem, glob = exports["mem"], exports["g"]
    return {
        "a call": lambda gs: gs.call(exports["nop"]),
        "memory.read": lambda gs: gs.memory_read(mem, 0, 4),
        "memory.write": lambda gs: gs.memory_write(mem, b"abcd", 0),
        "memory.grow": lambda gs: gs.memory_grow(mem, 1),
        "memory.size": lambda gs: gs.memory_size(mem),
        "global.get": lambda gs: gs.global_get(glob),
        "global.set": lambda gs: gs.global_set(glob, 9),
        "set_fuel": lambda gs: gs.set_fuel(10**9),
        "get_fuel": lambda gs: gs.get_fuel(),
        "set_epoch_deadline": lambda gs: gs.set_epoch_deadline(10**6),
    }


def test_every_store_operation_is_refused_while_another_thread_is_inside(store_inside) -> None:
    gs, exports, leave, owner = store_inside
    threading.current_thread().name = "intruder-thread"
    for operation, op in _operations(exports).items():
        with pytest.raises(StoreInUseError) as info:
            op(gs)
        err = info.value
        assert (err.store, err.operation, err.owner, err.intruder) == (
            "store-A",
            operation,
            "owner-thread",
            "intruder-thread",
        )
        assert "store 'store-A' is in use by thread 'owner-thread'" in str(err)
    assert gs.guard.refused == len(_operations(exports))
    leave.set()
    owner.join()
    for op in _operations(exports).values():  # the process lives, and the Store works again
        op(gs)
    assert gs.global_get(exports["g"]) == 9


def test_guarded_calls_refuse_a_second_thread_and_then_recover() -> None:
    guard = StoreGuard("s")
    inside, leave = threading.Event(), threading.Event()

    def slow() -> str:
        inside.set()
        leave.wait(30)
        return "done"

    first = guarded(slow, guard)
    second = guarded(lambda: "second", guard)
    t = threading.Thread(target=first, name="first")
    t.start()
    assert inside.wait(30)
    with pytest.raises(StoreInUseError, match="in use by thread 'first'"):
        second()
    leave.set()
    t.join()
    assert second() == "second"
    assert guard.refused == 1


def test_an_exception_inside_releases_the_guard() -> None:
    guard = StoreGuard("s")

    def boom() -> None:
        raise ValueError("x")

    with pytest.raises(ValueError):
        guarded(boom, guard)()
    assert guarded(lambda: 1, guard)() == 1
