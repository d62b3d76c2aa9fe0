"""The extism binding in-process, against the real SDK and libextism_sys.so: what it declares,
how a plugin scenario is validated, and the two ctypes handles the SDK is pointed at.

The packages come from the `embedded` extra (make test installs it); the tests that call
extism skip, saying so, only where that extra is absent. Whether held really keeps the lock
is measured end to end (tests/e2e/test_extism.py), by a sibling thread's progress.
"""

from __future__ import annotations

import ctypes
import dataclasses
import importlib.metadata as md
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from gvlbench import bindings, scenario
from gvlbench.binding.embed import ExpectationError
from gvlbench.bindings import Feature, Form
from gvlbench.errors import OptionError, SignatureError, SpecError, UnavailableError, WasmError
from gvlbench.harness.target import prepare_target, target_of
from gvlbench.modes import Mode
from gvlbench.protocol import Target
from tests.conftest import WAT

needs_extism = pytest.mark.skipif(
    importlib.util.find_spec("extism") is None or importlib.util.find_spec("extism_sys") is None,
    reason="extism is not installed (the `embedded` extra: make test installs it)",
)
PLUGIN_WAT = WAT / "extism_spin.wat"


@pytest.fixture
def sdk() -> Iterator[object]:
    """The real SDK module, its `_lib` put back to cffi's after the test."""
    if importlib.util.find_spec("extism") is None:
        pytest.skip("extism is not installed (the `embedded` extra: make test installs it)")
    import extism.extism as module
    import extism_sys

    yield module
    module._lib = extism_sys.lib


def _plugin(module: object, name: str = "spin") -> tuple[object, object]:
    target, _ = prepare_target(scenario.find(f"extism_{name}"))
    return module.Plugin(Path(target.wasm_path).read_bytes(), wasi=False, functions=[]), target  # type: ignore[attr-defined]


# -- what it declares -------------------------------------------------------------------------


def test_plugins_go_to_extism_and_modules_stay_with_wasmtime_py() -> None:
    assert bindings.for_form("python", Form.PLUGIN).name == "extism"
    assert bindings.for_form("python", Form.MODULE).name == "wasmtime-py"
    names = bindings.names()
    assert names.index("extism") < names.index("native")  # its calls are found before a scan


def test_every_mode_and_feature_it_lacks_has_a_reason_of_its_own() -> None:
    ext = bindings.get("extism")
    assert set(ext.capabilities.modes) == {Mode.HELD, Mode.RELEASED, Mode.FREE_THREADED}
    assert ext.modes((Mode.HELD, Mode.RELEASED)) == (Mode.HELD, Mode.RELEASED)
    generic = f"the {ext.name} binding does not do"
    for feature in Feature:
        if not ext.has(feature):
            assert not (ext.why_not(feature) or "").startswith(generic), feature
    for missing in (Form.MODULE, Form.COMPONENT, Mode.AS_SHIPPED, "lean"):
        assert ext.why_not(missing) and not ext.why_not(missing).startswith(generic)  # type: ignore[union-attr]
    assert ext.has(Feature.RACE) and ext.has(Feature.PROGRESS) and not ext.has(Feature.PATCHES)


def test_it_claims_libextism_sys_and_not_wasmtime_pys_library() -> None:
    ext, wt = bindings.get("extism"), bindings.get("wasmtime-py")
    so = "/venv/lib/python3.11/site-packages/extism_sys/libextism_sys.so"
    assert ext.claims(so) and not wt.claims(so)
    assert not ext.claims(
        "/venv/lib/python3.11/site-packages/wasmtime/linux-x86_64/_libwasmtime.so"
    )
    assert not ext.runs_wasmtime_py


@needs_extism
def test_its_engine_is_extism_with_the_wasmtime_it_embeds() -> None:
    from tests.unit.test_engines import sbom_version

    engine = bindings.get("extism").engine()
    assert engine is not None
    assert engine.name == f"extism (wasmtime {sbom_version('extism_sys', 'wasmtime')})"
    assert engine.version == md.version("extism-sys")
    assert engine.library.endswith("extism_sys/libextism_sys.so")


# -- a plugin scenario --------------------------------------------------------------------------

_PLUGIN = f"form = 'plugin'\nwat = '{PLUGIN_WAT}'\nexport = 'spin'\n"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (_PLUGIN + "args = [1]\n", "key 'args': not for a plugin"),
        (_PLUGIN + "work_arg = 0\nargs = [1]\n", "not for a plugin"),
        (_PLUGIN + "unknown_imports = 'trap'\n", "key 'unknown_imports': not for a plugin"),
        (_PLUGIN + "[expect]\nresult = 1\n", "key 'expect.result': not for a plugin"),
        (_PLUGIN + "[wasi]\nargs = []\n", "key 'wasi': not for a plugin"),
        (_PLUGIN + "input = 3\n", "key 'input': must be a string"),
        (_PLUGIN + "[expect]\noutput = 3\n", "key 'expect.output'"),
        (_PLUGIN + "[expect]\noutput = 'x'\ntrap = 'y'\n", "gives an output or fails"),
        (_PLUGIN + "[expect]\ntrap = 3\n", "key 'expect.trap'"),
        (_PLUGIN + "[expect]\nstdout = 'x'\n", "key 'expect.stdout': not for a plugin"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\ninput = 'x'\n", "key 'input': only for form"),
        (f"wat = '{WAT}/spin.wat'\nexport = 'spin'\n[expect]\noutput = 'x'\n",
         "key 'expect.output': only for form"),
        (f"form = 'plugins'\nwat = '{PLUGIN_WAT}'\nexport = 'spin'\n", "key 'form': one of"),
    ],
)  # fmt: skip
def test_a_plugin_spec_takes_input_and_output_and_nothing_of_a_module(
    spec, body: str, match: str
) -> None:
    path = spec(body)
    with pytest.raises(SpecError, match=match) as info:
        scenario.load_spec(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_the_built_in_plugin_scenarios_carry_their_input_and_output_to_the_child() -> None:
    spin = scenario.find("extism_spin")
    assert (spin.form, spin.export, spin.args) == (Form.PLUGIN, "spin", ())
    n = int(spin.input.split(":")[0])  # type: ignore[union-attr]
    assert spin.expect_output == f"{n * (n - 1) // 2}:{'gvlbench'[::-1]}"
    sent = target_of(spin, "/x.wasm")
    assert Target.from_json(sent.to_json()) == sent
    assert sent.to_json()["input"] == spin.input and sent.to_json()["form"] == "plugin"


@needs_extism
@pytest.mark.parametrize(
    ("wat", "export", "error", "match"),
    [
        (PLUGIN_WAT.read_text(), "nope", SignatureError,
         r"no function 'nope' \(functions: echo, noop, refuse, spin\)"),
        ('(module (func (export "f") (param i64) (result i64) local.get 0))', "f",
         SignatureError, r"'f' is \(i64\) -> \(i64\); extism calls a function of \(\) -> \(i32\)"),
        ('(module (import "extism:host/env" "no_such_kernel_function" (func)) '
         '(func (export "f") (result i32) i32.const 0))', "f", WasmError,
         "extism refused the plugin: "),
    ],
)  # fmt: skip
def test_validation_loads_the_plugin_and_checks_the_function(
    spec, wat: str, export: str, error: type, match: str
) -> None:
    path = spec(f"form = 'plugin'\nwat = 'case.wat'\nexport = '{export}'\n", wat=wat)
    with pytest.raises(error, match=match) as info:
        prepare_target(scenario.load_spec(path))
    assert "\n" not in str(info.value)


# -- the handles and the SDK pointed at them ------------------------------------------------


@needs_extism
def test_held_and_released_are_the_sdks_own_library_through_two_loaders() -> None:
    import extism_sys

    from gvlbench.binding import extism_abi

    held, released = extism_abi.handle(Mode.HELD), extism_abi.handle(Mode.RELEASED)
    assert isinstance(held, ctypes.PyDLL) and not isinstance(released, ctypes.PyDLL)
    assert held._handle == released._handle  # one dlopen: the SDK's cffi loaded the same
    assert Path(extism_sys.__file__).parent / extism_abi.LIBRARY_NAME == extism_abi.library_path()
    assert extism_abi.handle(Mode.FREE_THREADED) is released


@needs_extism
@pytest.mark.parametrize("mode", [Mode.HELD, Mode.RELEASED])
def test_an_unmodified_plugin_call_answers_the_same_through_either_handle(sdk, mode: Mode) -> None:
    from gvlbench.binding import extism_abi

    plugin, _ = _plugin(sdk)
    stock = plugin.call("spin", b"1000:abc")  # type: ignore[attr-defined]
    bindings.driver(bindings.get("extism")).use_mode(mode)
    assert isinstance(sdk._lib, extism_abi.LibProxy) and sdk._lib.mode is mode  # type: ignore[attr-defined]
    assert plugin.call("spin", b"1000:abc") == stock == b"499500:cba"  # type: ignore[attr-defined]
    with pytest.raises(sdk.Error, match="spin wants input N:payload"):  # type: ignore[attr-defined]
        plugin.call("spin", b"no colon")  # type: ignore[attr-defined]


@needs_extism
def test_the_probe_counts_each_plugin_call_made_through_the_sdk(sdk) -> None:
    plugin, _ = _plugin(sdk)
    read = bindings.driver(bindings.get("extism")).count_calls()
    assert read is not None and read() == 0
    for _ in range(3):
        plugin.call("echo", b"x")  # type: ignore[attr-defined]
    plugin.function_exists("echo")  # type: ignore[attr-defined]
    assert read() == 3


@needs_extism
def test_an_sdk_that_reaches_the_library_another_way_is_refused_in_one_line(sdk) -> None:
    from gvlbench.binding import extism_abi

    sdk._lib = object()  # type: ignore[attr-defined]
    with pytest.raises(UnavailableError, match=r"an SDK .* the extism binding does not know"):
        extism_abi.point_sdk(Mode.HELD)


@needs_extism
def test_each_caller_of_a_shared_plugin_gets_its_own_input_and_answer(sdk) -> None:
    target, _ = prepare_target(scenario.find("extism_echo"))
    driver = bindings.driver(bindings.get("extism"))
    (inst,) = driver.instances(target, Mode.RELEASED, "stock", 1, None)
    pairs = [inst.distinct_call(i) for i in range(3)]  # type: ignore[attr-defined]
    assert [answer for _, answer in pairs] == [b"gvlbench/thread0", b"gvlbench/thread1",
                                               b"gvlbench/thread2"]  # fmt: skip
    assert [call() for call, _ in pairs] == [answer for _, answer in pairs]
    with pytest.raises(OptionError, match="--call-path lean"):
        driver.instances(target, Mode.RELEASED, "lean", 1, None)


@needs_extism
def test_a_failing_plugin_answers_with_its_error_and_each_caller_with_its_own(sdk) -> None:
    """`expect.trap` on a plugin: the function fails, and its error text is the call's answer,
    held to the spec's text and, in a race, to each caller's own input's."""
    target, _ = prepare_target(scenario.find("extism_refuse"))
    driver = bindings.driver(bindings.get("extism"))
    (inst,) = driver.instances(target, Mode.RELEASED, "stock", 1, None)
    assert repr(inst.checked_call()) == "error 'gvlbench'"  # type: ignore[attr-defined]
    pairs = [inst.distinct_call(i) for i in range(2)]  # type: ignore[attr-defined]
    assert [repr(answer) for _, answer in pairs] == ["error 'gvlbench/thread0'",
                                                     "error 'gvlbench/thread1'"]  # fmt: skip
    assert [call() for call, _ in pairs] == [answer for _, answer in pairs]
    assert pairs[0][1] != pairs[1][1]
    echo = dataclasses.replace(target, export="echo")  # gives an output where a failure is asked
    (wrong,) = driver.instances(echo, Mode.RELEASED, "stock", 1, None)
    with pytest.raises(ExpectationError, match="echo returned b'gvlbench', expected an error"):
        wrong.checked_call()  # type: ignore[attr-defined]
