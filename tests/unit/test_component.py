"""The component binding in-process, against the real wasmtime: what it declares, how a
component scenario is validated (each mistake one line, exit code 2), and what its calls do."""

from __future__ import annotations

from pathlib import Path

import pytest

from gvlbench import bindings, scenario, wat
from gvlbench.bindings import Feature, Form
from gvlbench.bindings import component as binding
from gvlbench.errors import EXIT_BAD_INPUT, OptionError, SignatureError, SpecError, UserError
from gvlbench.harness.target import prepare_target, target_of
from gvlbench.modes import Mode
from tests.conftest import WAT

COMPONENT = WAT / "component.wat"


def test_a_component_form_is_run_by_the_component_binding_and_nothing_else() -> None:
    b = bindings.for_form("python", Form.COMPONENT)
    assert b is binding.BINDING and b.runs(Form.COMPONENT)
    assert not b.runs(Form.MODULE) and bindings.for_form("python", Form.MODULE) is not b
    target = target_of(scenario.find("component_spin"), "x.wasm")
    assert target.form == "component" and bindings.driver_for(target) is binding.DRIVER
    with pytest.raises(OptionError, match="core modules only"):
        bindings.for_form("ruby", Form.COMPONENT)


def test_every_feature_it_lacks_has_a_reason_of_its_own() -> None:
    """No feature is supported by default, and none is refused with the generic sentence."""
    b, generic = binding.BINDING, "binding does not do"
    for feature in Feature:
        assert b.has(feature) or generic not in (b.why_not(feature) or generic), feature
    for path in ("lean", "raw", "floor"):
        assert b.why_not(path) and generic not in b.why_not(path)  # type: ignore[operator]
    assert b.why_not("stock") is None
    assert set(b.capabilities.modes) == set(Mode) - {Mode.AS_SHIPPED}  # it holds and releases
    assert all(map(b.how, b.capabilities.modes))
    assert {Feature.RACE, Feature.NATIVE_GUARD, Feature.PATCHES, Feature.VERIFY} <= set(
        b.capabilities.features
    )


def test_component_text_goes_to_wasmtime_whatever_is_on_path(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GVLBENCH_CACHE", str(tmp_path))
    assert wat.is_component_text(b" ;; a comment\n(; block ;)\n(component)")
    assert not wat.is_component_text(b";; (component\n(module)")
    compiled = wat.compile_wat(COMPONENT)
    assert compiled.compiler == wat.COMPONENT_COMPILER
    assert wat.layer(compiled.wasm_path.read_bytes()) == "component"
    assert wat.layer(wat.compile_wat(WAT / "spin.wat").wasm_path.read_bytes()) == "module"
    assert wat.layer(b"not wasm") is None


def test_a_component_scenario_may_pass_strings_a_module_scenario_may_not(spec) -> None:
    body = f"wat = '{COMPONENT}'\nexport = 'echo'\nargs = ['hi', 5]\n[expect]\nresult = 'hi'\n"
    echo = scenario.load_spec(spec("form = 'component'\n" + body, name="echo"))
    assert echo.args == ("hi", 5) and echo.expect_result == "hi"
    with pytest.raises(SpecError, match="key 'args': must be a list of numbers"):
        scenario.load_spec(spec(body, name="module"))
    with pytest.raises(SpecError, match="work_arg"):  # the work size is a number
        scenario.load_spec(spec(f"form = 'component'\nwork_arg = 0\n{body}", name="work"))


def _spec(spec, body: str, wat_file: Path = COMPONENT, form: str = "component") -> Path:
    return spec(f"form = '{form}'\nwat = '{wat_file}'\n{body}")


@pytest.mark.parametrize(
    ("body", "error", "needle"),
    [
        ("export = 'nope'\n", SignatureError, "no export 'nope' (exports: add, echo, spin)"),
        ("export = 'add'\nargs = [1]\n", SignatureError, "takes 2 argument(s) (a: u32, b: u32)"),
        ("export = 'add'\nargs = [1, 'x']\n", SignatureError, "argument 1 (b) must be a u32"),
        ("export = 'spin'\nargs = [-1]\n", SignatureError, "argument 0 (n) must be a u64"),
        ("export = 'add'\nargs = [4294967296, 0]\n", SignatureError, "must be a u32"),
        ("export = 'spin'\nargs = [1]\n[expect]\nresult = 'x'\n", SignatureError, "returns u64"),
        ("export = 'spin'\nargs = [1]\n[expect]\ntrap = 'x'\n", SignatureError, "poisons"),
    ],
)
def test_a_scenario_that_does_not_fit_the_component_is_one_line(spec, body, error, needle) -> None:
    with pytest.raises(error) as info:
        prepare_target(scenario.load_spec(_spec(spec, body)))
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_a_component_that_imports_is_refused(spec) -> None:
    path = _spec(spec, "export = 'run'\nargs = [1]\n", WAT / "checks" / "component_host.wat")
    with pytest.raises(SignatureError, match="imports host: the component binding defines no"):
        prepare_target(scenario.load_spec(path))


@pytest.mark.parametrize(
    ("wat_file", "form", "needle"),
    [
        (WAT / "spin.wat", "component", "spin.wat is a core module, not a component: drop form"),
        (COMPONENT, "module", 'component.wat is a component: set form = "component"'),
    ],
)
def test_the_wrong_form_is_the_specs_error(spec, wat_file, form, needle) -> None:
    path = _spec(spec, "export = 'spin'\nargs = [1]\n", wat_file, form)
    with pytest.raises(UserError) as info:
        prepare_target(scenario.load_spec(path))
    assert isinstance(info.value, SpecError) and needle in str(info.value)
    assert str(path) in str(info.value) and info.value.exit_code == EXIT_BAD_INPUT


def test_held_points_the_component_call_at_a_handle_that_keeps_the_gil() -> None:
    from gvlbench.binding import component_calls

    try:
        binding.DRIVER.use_mode(Mode.HELD)
        assert component_calls.holds_the_gil()
        binding.DRIVER.use_mode(Mode.RELEASED)
        assert not component_calls.holds_the_gil()
    finally:
        component_calls.use_mode(Mode.RELEASED)


def test_a_stmt_held_through_wasmtime_py_holds_its_component_calls_too() -> None:
    """A --stmt runs through the wasmtime-py binding; a component call it makes is held in
    held mode as its core calls are."""
    from gvlbench.binding import component_calls
    from gvlbench.bindings import wasmtime_py

    try:
        wasmtime_py.DRIVER.use_mode(Mode.HELD)
        assert component_calls.holds_the_gil()
    finally:
        wasmtime_py.DRIVER.use_mode(Mode.RELEASED)
    assert not component_calls.holds_the_gil()


def _instances(body: str, spec, n: int = 1) -> list[binding.ComponentInstance]:
    target, _ = prepare_target(scenario.load_spec(_spec(spec, body)))
    return binding.DRIVER.instances(target, Mode.RELEASED, "stock", n, None)  # type: ignore[return-value]


def test_an_echo_is_unique_per_call_and_checked(spec) -> None:
    body = "export = 'echo'\nargs = ['hi', 5]\n[expect]\nresult = 'hi'\n"
    (one,) = _instances(body, spec)
    other = one.new_call()
    results = [one.call(), one.call(), other(), one.checked_call()]
    assert len(set(results)) == 4 and all(r.startswith("hi#") for r in results)


def test_a_wrong_result_raises_expectation_error(spec) -> None:
    from gvlbench.binding.embed import ExpectationError

    (inst,) = _instances("export = 'add'\nargs = [2, 3]\n[expect]\nresult = 6\n", spec)
    with pytest.raises(ExpectationError, match="add returned 5, expected 6"):
        inst.call()


def test_a_trapped_instance_is_poisoned_for_every_later_call(spec) -> None:
    """The guest's realloc traps on a string over 60 KiB: the instance refuses every call
    after that one, which the binding names PoisonedStoreError (the library's words kept)."""
    import wasmtime

    huge = "x" * 70_000
    (inst,) = _instances(f"export = 'echo'\nargs = ['{huge}', 1]\n", spec)
    with pytest.raises(wasmtime.WasmtimeError, match="unreachable"):
        inst.call()
    for call in (inst.call, inst.new_call()):
        with pytest.raises(binding.PoisonedStoreError, match="cannot enter component instance"):
            call()


def test_the_call_path_is_refused_in_the_child_too(spec) -> None:
    target, _ = prepare_target(scenario.load_spec(_spec(spec, "export = 'spin'\nargs = [1]\n")))
    with pytest.raises(OptionError, match="one call path"):
        binding.DRIVER.instances(target, Mode.RELEASED, "lean", 1, None)
