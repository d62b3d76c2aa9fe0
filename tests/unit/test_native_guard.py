"""The native Store guard (gvlbench/native/guard.c) with real threads on a real shared Store:
it refuses a second thread, admits a host callback calling back into its own Store, and
releases the Store after a trap or a host exception, on every call path and in both modes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import wasmtime
from wasmtime import _bindings, _func

from gvlbench import native
from gvlbench.binding.guard import StoreInUseError
from gvlbench.binding.invoke import CallPath, Mode

pytestmark = pytest.mark.skipif(
    native.compiler() is None and not native.LIBRARY.exists(), reason=native.UNAVAILABLE_NO_CC
)

WAT = """
(module
  (import "host" "inside" (func $inside))
  (import "host" "fail" (func $fail))
  (func (export "run") (call $inside))
  (func (export "nop"))
  (func (export "add") (param i64 i64) (result i64) local.get 0 local.get 1 i64.add)
  (func (export "boom") unreachable)
  (func (export "raise") (call $fail)))
"""

PATHS = (CallPath.RAW, CallPath.LEAN, CallPath.STOCK)


class HostFailure(Exception):
    pass


class Inside:
    """A Store under the native guard, and an owner thread parked inside one of its calls (in
    a host callback that first calls back into the same Store through the guard)."""

    def __init__(self, mode: Mode, path: CallPath):
        from gvlbench.binding import native_guard, native_stock

        self.ng, self.stock, self.mode, self.path = native_guard, native_stock, mode, path
        self.entered, self.leave = threading.Event(), threading.Event()
        self.reentered: list[int] = []
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        linker.define_func("host", "inside", wasmtime.FuncType([], []), self._inside)
        linker.define_func("host", "fail", wasmtime.FuncType([], []), self._fail)
        module = wasmtime.Module(engine, wasmtime.wat2wasm(WAT))
        self.exports = linker.instantiate(self.store, module).exports(self.store)
        self.guard = native_guard.NativeStoreGuard(self.store, "store-A")
        self._nested = self.call("add", 2, 3, path=CallPath.LEAN)

    def call(self, export: str, *args: int, path: CallPath | None = None):  # type: ignore[no-untyped-def]
        return self.stock.prepare(
            self.store, self.exports[export], args, self.mode, path or self.path
        )

    def _inside(self) -> None:
        self.reentered.append(self._nested())  # the owner calls back in: admitted
        self.entered.set()
        self.leave.wait(30)

    def _fail(self) -> None:
        raise HostFailure("from the host")

    def park_owner(self) -> threading.Thread:
        owner = threading.Thread(target=self.call("run"), name="owner-thread")
        owner.start()
        assert self.entered.wait(30)
        return owner


@pytest.fixture(params=[(m, p) for m in (Mode.HELD, Mode.RELEASED) for p in PATHS],
                ids=lambda mp: f"{mp[0]}-{mp[1]}")  # fmt: skip
def inside(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inside]:
    # the stock path repoints wasmtime-py's binding process-wide: put it back afterwards
    monkeypatch.setattr(_bindings, "_wasmtime_func_call", _bindings._wasmtime_func_call)
    monkeypatch.setattr(_func, "maybe_raise_last_exn", _func.maybe_raise_last_exn)
    monkeypatch.setattr(_func, "LAST_EXCEPTION", None)  # raw leaves a host exception unread
    state = Inside(*request.param)
    yield state
    state.leave.set()
    from gvlbench.binding import native_stock

    native_stock.restore_stock()  # every other entry point use_stock re-pointed


def _from_another_thread(call):  # type: ignore[no-untyped-def]
    """Run `call` on a fresh thread: the owner thread itself would be let in anyway."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run, name="other-thread")
    t.start()
    t.join(30)
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("result")


def test_a_second_thread_is_refused_and_the_owner_reenters(inside: Inside) -> None:
    owner = inside.park_owner()
    assert inside.reentered == [5]  # a host callback on the owning thread was admitted
    threading.current_thread().name = "intruder-thread"
    try:
        for export, args in (("nop", ()), ("add", (1, 2))):
            with pytest.raises(StoreInUseError) as info:
                inside.call(export, *args)()
            err = info.value
            # Func.__call__'s first entry into the Store is the function's type
            operation = "func.type" if inside.path is CallPath.STOCK else "a call"
            assert (err.store, err.operation, err.owner, err.intruder) == (
                "store-A", operation, "owner-thread", "intruder-thread")  # fmt: skip
    finally:
        threading.current_thread().name = "MainThread"
    assert inside.guard.refused == 2
    inside.leave.set()
    owner.join(30)
    add = inside.call("add", 2, 40)  # released: another thread gets in now
    assert _from_another_thread(add) == (None if inside.path is CallPath.RAW else 42)


def _fails(inside: Inside, export: str, expected: type[BaseException], raw_reads: bool) -> None:
    """The call fails as expected; raw reads the error return (where a callback's exception
    comes back) for a refusal, but not the trap slot."""
    call = inside.call(export)
    if inside.path is CallPath.RAW and not raw_reads:
        call()
    else:
        with pytest.raises(expected):
            call()


def test_a_trap_releases_the_store(inside: Inside) -> None:
    _fails(inside, "boom", wasmtime.Trap, raw_reads=False)
    assert _from_another_thread(inside.call("nop")) is None
    if inside.path is not CallPath.RAW:
        assert _from_another_thread(inside.call("add", 1, 1)) == 2


def test_a_host_exception_releases_the_store(inside: Inside) -> None:
    _fails(inside, "raise", HostFailure, raw_reads=True)
    assert _from_another_thread(inside.call("nop")) is None
    assert inside.guard.refused == 0


def test_a_store_without_a_guard_passes_through_the_shim() -> None:
    from gvlbench.binding import native_stock

    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, wasmtime.wat2wasm(
        '(module (func (export "add") (param i64 i64) (result i64) '
        "local.get 0 local.get 1 i64.add))"))  # fmt: skip
    add = wasmtime.Instance(store, module, []).exports(store)["add"]
    assert native_stock.prepare(store, add, (2, 3), Mode.RELEASED, CallPath.LEAN)() == 5


def test_the_refusal_comes_from_the_guard_not_from_luck() -> None:
    """Without the guard the intruder gets in: the refusals above are the guard's doing."""
    from gvlbench.binding import native_guard

    state = Inside(Mode.RELEASED, CallPath.LEAN)
    owner = state.park_owner()
    try:
        state.guard.close()  # the Store is unguarded from here on
        assert state.call("add", 1, 2)() == 3  # safe here: the owner is parked in Python
        assert native_guard.NativeStoreGuard(state.store, "again").refused == 0
    finally:
        state.leave.set()
        owner.join(30)
