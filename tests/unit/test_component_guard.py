"""The native Store guard on wasmtime-py's component model, in-process with real threads: a
second thread is refused while the owner is inside a component call (its host function
parked), the owner finishes, and the Store is free again; post_return is left alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import wasmtime
from wasmtime import _bindings, _ffi
from wasmtime import component as cm

from gvlbench import native
from gvlbench.binding import component_calls
from gvlbench.binding.guard import StoreInUseError
from gvlbench.modes import Mode
from tests.conftest import WAT

pytestmark = pytest.mark.skipif(
    native.compiler() is None and not native.LIBRARY.exists(), reason=native.UNAVAILABLE_NO_CC
)

POST_RETURN = "wasmtime_component_func_post_return"
NAMES = (*component_calls.ERROR_ENTRIES, *component_calls.VALUE_ENTRIES, POST_RETURN)


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """use_stock re-points wasmtime-py's bindings process-wide: every one put back after."""
    from gvlbench.binding import native_stock

    for name in NAMES:
        monkeypatch.setattr(_bindings, f"_{name}", getattr(_bindings, f"_{name}"))
        monkeypatch.setattr(_bindings, name, getattr(_bindings, name))
        monkeypatch.setattr(_ffi, name, getattr(_ffi, name))
    yield
    native_stock.restore_stock()
    component_calls.use_mode(Mode.RELEASED)


class Parked:
    """A guarded Store with the checks' component instantiated, and an owner thread parked
    inside run(): its host function waits until told to leave."""

    def __init__(self, mode: Mode):
        from gvlbench.binding import native_guard, native_stock

        self.entered, self.leave = threading.Event(), threading.Event()
        engine = wasmtime.Engine()
        linker = cm.Linker(engine)
        with linker.root() as root:
            root.add_func("host", self._host)
        component = cm.Component(engine, wasmtime.wat2wasm(
            (WAT / "checks" / "component_host.wat").read_text()))  # fmt: skip
        self.store = wasmtime.Store(engine)
        self.run = linker.instantiate(self.store, component).get_func(self.store, "run")
        self.guard = native_guard.NativeStoreGuard(self.store, "store-C")
        native_stock.use_stock(mode)
        self.result: list[Any] = []

    def _host(self, store: Any, n: int) -> int:
        self.entered.set()
        self.leave.wait(30)
        return n + 1

    def park_owner(self) -> threading.Thread:
        owner = threading.Thread(target=lambda: self.result.append(self.run(self.store, 41)),
                                 name="owner-thread")  # fmt: skip
        owner.start()
        assert self.entered.wait(30)
        return owner


def _from_another_thread(call: Any) -> Any:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:
            box["error"] = exc

    t = threading.Thread(target=run, name="intruder")
    t.start()
    t.join(30)
    return box.get("error", box.get("result"))


@pytest.mark.parametrize("mode", [Mode.HELD, Mode.RELEASED], ids=str)
def test_a_second_thread_is_refused_and_the_owner_finishes(restored, mode: Mode) -> None:
    from gvlbench.binding import native_guard

    assert native_guard.components_guarded()  # this libwasmtime has the component model
    parked = Parked(mode)
    assert component_calls.holds_the_gil() == (mode is Mode.HELD)
    owner = parked.park_owner()
    refused = _from_another_thread(lambda: parked.run(parked.store, 1))
    parked.leave.set()
    owner.join(30)
    assert isinstance(refused, StoreInUseError), refused
    assert "store 'store-C' is in use by thread 'owner-thread'" in str(refused)
    assert refused.operation == "component.func_type"  # Func.__call__'s first Store entry
    assert parked.result == [42] and parked.guard.refused == 1
    parked.entered.clear()
    parked.leave.set()  # the Store is free again: another thread is admitted
    assert _from_another_thread(lambda: parked.run(parked.store, 1)) == 2


def test_post_return_is_passed_through_unguarded(restored) -> None:
    from gvlbench.binding import native_stock

    before = getattr(_bindings, f"_{POST_RETURN}")
    native_stock.use_stock(Mode.RELEASED)
    assert getattr(_bindings, f"_{POST_RETURN}") is before
    assert getattr(_bindings, f"_{component_calls.FUNC_CALL}").__name__.startswith("gvlbench_")
