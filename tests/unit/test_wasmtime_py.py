"""The wasmtime-py binding, as the planner and the code probe see it (bindings/wasmtime_py.py).

Real wasmtime throughout: the driver validates real modules, and its call counter counts
real calls through wasmtime-py's own binding of wasmtime_func_call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from gvlbench import bindings
from gvlbench.bindings import Feature, Form
from gvlbench.errors import SignatureError
from gvlbench.modes import Mode
from gvlbench.protocol import Target

BINDING = bindings.get("wasmtime-py")
DRIVER = bindings.driver(BINDING)


def _module(tmp_path: Path, wat: str) -> str:
    path = tmp_path / "m.wasm"
    path.write_bytes(wasmtime.wat2wasm(wat))
    return str(path)


def test_it_runs_modules_and_code_in_every_mode_and_lacks_nothing() -> None:
    assert BINDING.runs(Form.MODULE) and BINDING.runs(Form.CODE)
    assert not BINDING.runs(Form.PLUGIN)
    assert BINDING.modes((Mode.HELD, Mode.RELEASED)) == (Mode.HELD, Mode.RELEASED)
    assert all(BINDING.has(f) for f in Feature)
    assert BINDING.call_path("lean") == "lean" and BINDING.runs_wasmtime_py
    assert "PyDLL" in BINDING.how(Mode.HELD)


def test_it_claims_the_library_wasmtime_py_loads_and_no_other() -> None:
    from gvlbench.binding import internals

    assert BINDING.claims(internals.LIBRARY_PATH)
    assert not BINDING.claims("/usr/lib/python3/site-packages/numcodecs_wasm/_wasm.abi3.so")


def test_validation_is_one_clear_error(tmp_path: Path) -> None:
    wasm = _module(tmp_path, '(module (func (export "f") (param i32) (result i32) local.get 0))')
    DRIVER.validate(Target(wasm, "f", (1,)))
    with pytest.raises(SignatureError, match="no export 'g'"):
        DRIVER.validate(Target(wasm, "g", (1,)))
    with pytest.raises(SignatureError, match="takes 1 argument"):
        DRIVER.validate(Target(wasm, "f", (1, 2)))


def test_its_call_counter_sees_every_call_through_wasmtime_py(tmp_path: Path) -> None:
    wasm = _module(tmp_path, '(module (func (export "f") (result i32) i32.const 7))')
    (instance,) = DRIVER.instances(Target(wasm, "f", ()), Mode.RELEASED, "stock", 1, None)
    read = DRIVER.count_calls()
    assert read is not None and read() == 0
    assert [instance.call() for _ in range(3)] == [7, 7, 7]
    assert read() == 3
    DRIVER.use_mode(Mode.RELEASED)  # points the binding at the library again: counting stops
    instance.call()
    assert read() == 3
