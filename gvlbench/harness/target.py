"""What every experiment does before its first child: compile, validate, describe.

`prepare_target` compiles a scenario's WAT and validates the module against the spec in the
harness, so bad input is one clean error before any child runs; `common_metadata` is what
every row of a results document shares. Both load libwasmtime, so they are imported by the
commands that measure, never by `gvlbench --help` or `gvlbench list`.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

import gvlbench
from gvlbench import wat
from gvlbench.bindings import Feature, Form, driver_for
from gvlbench.errors import OptionError, SpecError, WasmError, WatError
from gvlbench.harness.interpreter import Runtime, binding_of, harness_wasmtime, runtimes_metadata
from gvlbench.protocol import Target
from gvlbench.scenario import Scenario


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def gil_status() -> str:
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return "enabled" if is_enabled is None or is_enabled() else "disabled"


def prepare_target(scenario: Scenario) -> tuple[Target, wat.Compiled]:
    """Compile and validate in the harness, through the binding that runs the scenario's
    form: bad input fails here, before any child runs."""
    if scenario.wat_path is not None:
        compiled = wat.compile_wat(scenario.wat_path)
    else:
        compiled = wat.binary(scenario.source_path)
    _check_layer(scenario, compiled)
    target = target_of(scenario, str(compiled.wasm_path))
    try:
        driver_for(target).validate(target)
    except WatError as exc:  # name the source, not the cache file
        kind = WatError if scenario.wat_path is not None else WasmError
        raise kind(f"{scenario.source_path}: {exc}") from None
    return target, compiled


def _check_layer(scenario: Scenario, compiled: wat.Compiled) -> None:
    """A component named as a core module, or a core module as a component, is the spec's
    `form` error (one line saying which to write), not the engine's parse error."""
    found = wat.layer(compiled.wasm_path.read_bytes()[:8])
    wants_component = scenario.form is Form.COMPONENT
    if found == "component" and not wants_component:
        raise SpecError(f"{scenario.spec_path}: {scenario.source_path.name} is a component: "
                        'set form = "component"')  # fmt: skip
    if found == "module" and wants_component:
        raise SpecError(f"{scenario.spec_path}: key 'form': {scenario.source_path.name} is a "
                        'core module, not a component: drop form = "component"')  # fmt: skip


def target_of(scenario: Scenario, wasm_path: str) -> Target:
    """The protocol's description of what to call, from a validated spec."""
    s = scenario
    return Target(
        wasm_path, s.export, s.args, s.imports, s.expect_result, s.expect_trap,
        expect_stdout=s.expect_stdout, expect_exit_code=s.expect_exit_code,
        expect_raises=s.expect_raises, unknown_imports=s.unknown_imports, wasi=s.wasi,
        limits=s.limits, gc_stress=s.gc_stress, form=str(s.form), input=s.input,
        expect_output=s.expect_output,
    )  # fmt: skip


def common_metadata(
    scenario: Scenario,
    compiled: wat.Compiled,
    call_path: str,
    runtimes: tuple[Runtime, ...] = (),
) -> dict[str, Any]:
    """What every row shares; pyperf adds its own (Python, CPU model, date, ...) per run.
    With `runtimes`, the runtime keys describe those (each row carries its own as well). A
    scenario whose binding runs an engine of its own (an extism plugin) names that engine
    instead of the harness's wasmtime-py."""
    md = base_metadata(
        runtimes,
        scenario=scenario.name,
        spec_sha256=scenario.spec_sha256,
        wasm_sha256=compiled.wasm_sha256,
        wat_compiler=compiled.compiler,
        store="per-thread",
        call_path=str(call_path),
    )
    binding = binding_of(None, scenario.form)
    engine = None if binding.runs_wasmtime_py else binding.engine()
    if engine is not None:
        del md["wasmtime_version"]
        md.update(binding=binding.name, engine=engine.name, engine_library=engine.library,
                  engine_version=engine.version or "unknown")  # fmt: skip
    return md


def base_metadata(runtimes: tuple[Runtime, ...], **subject: Any) -> dict[str, Any]:
    """The versions, the lock and the machine, then what was measured (`subject`), then the
    runtimes that measured it and the harness's own interpreter."""
    return {
        "gvlbench_version": gvlbench.__version__,
        "wasmtime_version": harness_wasmtime(),
        "runtime": "python",
        "runtime_version": platform.python_version(),
        "lock": "GIL",
        "gil": gil_status(),
        "usable_cpus": cpu_count(),
        **subject,
        **runtimes_metadata(runtimes),
        # the harness's own interpreter, whichever runtimes measured
        "harness_python": platform.python_version(),
        "harness_gil": gil_status(),
    }


def check_runtimes(
    scenario: Scenario,
    runtimes: tuple[Runtime, ...],
    call_path: str = "stock",
    patches: tuple[str, ...] = (),
) -> None:
    """What a runtime's binding (the harness's own Python's too) cannot do with this
    scenario is one line before any child runs, not a row that silently measured something
    else: its form, its call path, the patches, and the spec's WASI, imports and limits."""
    for rt in runtimes or (None,):
        binding = binding_of(rt, scenario.form)
        if str(call_path) != "stock":  # stock: each binding's own way (check_call_path)
            binding.require(str(call_path), "--call-path")
        if patches:
            binding.require(Feature.PATCHES, "--patch")
        missing = [binding.why_not(feature) for feature, used in (
            (Feature.WASI, scenario.wasi is not None),
            (Feature.UNKNOWN_IMPORTS, scenario.unknown_imports is not None),
            (Feature.LIMITS, bool(scenario.limits)),
            (Feature.HOST_RAISES, scenario.gc_stress or scenario.expect_raises is not None),
        ) if used and binding.why_not(feature)]  # fmt: skip
        if missing:
            where, fix = (f" ({rt.label})", "drop that runtime for this scenario") if rt else (
                "", "drop it from the spec")  # fmt: skip
            raise OptionError(
                f"{scenario.name}: the {binding.name} binding{where}: "
                f"{'; '.join(map(str, missing))}; {fix}"
            )
