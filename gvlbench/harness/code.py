"""Python-code targets on the harness's side: checked, probed and described before measuring.

A code target (`--setup`, `--per-thread-setup`, `--stmt`) is code the user typed, so what is
wrong with it is bad input, told in one line before any measuring child starts: a part that
does not compile (checked here, with no child), setup that raises, or a statement that raises
(or kills its process) when run alone, which is a property of the code, not a race. The probe
is one child that does exactly that (worker/code.py `probe`), under the first runtime and mode
the command will measure, with its patches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from gvlbench import bindings, pycode
from gvlbench.answers import CodeProbeAnswer
from gvlbench.bindings import Binding, Engine, Form
from gvlbench.errors import CodeError
from gvlbench.harness.interpreter import Runtime, binding_of, check_patches, modes_under
from gvlbench.harness.loop import ChildExecutor, Executor, Job
from gvlbench.harness.target import base_metadata, prepare_target
from gvlbench.protocol import Code, CodeProbeTask, Mode, Target
from gvlbench.scenario import Scenario
from gvlbench.wat import Compiled

PROBE_TIMEOUT_S = 120.0


def check(code: Code, patches: tuple[str, ...], runtimes: tuple[Runtime, ...]) -> None:
    """What can be told without a child: the parts compile, the patches exist, and every
    runtime has a binding that runs code."""
    for rt in runtimes:
        binding_of(rt, Form.CODE)
    check_patches(patches, runtimes, Form.CODE)
    pycode.check(code)


@dataclass(frozen=True)
class Probed:
    """What the probe found: the code, now naming the binding it calls Wasm through; that
    binding; the engine it runs (from the library that carries it); every engine loaded."""

    code: Code
    binding: Binding
    engine: Engine | None
    engines: tuple[Engine, ...]
    answer: CodeProbeAnswer

    def metadata(self) -> dict[str, Any]:
        """The binding and engine keys of a results file: the engine the code really ran,
        not the harness's wasmtime-py (a compiled extension runs its own build)."""
        md: dict[str, Any] = {"binding": self.binding.name}
        engine = self.binding.engine(self.engine)
        if engine is not None:
            md.update(engine=engine.name, engine_version=engine.version or "unknown",
                      engine_library=engine.library)  # fmt: skip
        owned = [b for b in bindings.all_bindings() if b.libraries]
        others = [e.label for e in self.engines
                  if e != self.engine and not any(b.claims(e.library) for b in owned)]  # fmt: skip
        if others:
            md["other_engines"] = ", ".join(others)
        return md


def probe(
    code: Code,
    patches: tuple[str, ...] = (),
    runtime: Runtime | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
    executor: Executor | None = None,
) -> Probed:
    """Run the probe child, bounded by the command's --timeout as every child is; CodeError
    (one line) for what it found wrong with the code.

    It runs released whatever the command measures: that is how wasmtime-py runs the code
    today, and held may hang for reasons of the lock, not the code (a WASI program's
    custom stdout is called from a wasmtime thread that then waits for the held GIL), which
    is a finding for the measurement to show, not bad input. `executor`: the experiment's
    (a fake one in fast tests), else a real child."""
    # released even for --mode held alone (a held deadlock is the finding); free-threaded on a
    # build without a GIL
    mode = modes_under((Mode.RELEASED,), runtime)[0]
    task = CodeProbeTask(target=code, mode=mode, call_path="stock", patches=patches)
    outcome = (executor or ChildExecutor()).run(
        Job("probing the code", task, runtime, min(timeout_s, PROBE_TIMEOUT_S))
    )
    if outcome.ok:
        answer = outcome.answer_as(CodeProbeAnswer)
        found = tuple(Engine(e.engine, e.version, e.path, e.evidence) for e in answer.engines)
        binding, engine = bindings.for_code(answer.binding_calls, found)
        return Probed(replace(code, binding=binding.name), binding, engine, found, answer)
    if outcome.error is not None and outcome.error.type == "CodeError":
        raise CodeError(outcome.error.message)
    raise CodeError(f"run alone, the code did not finish: {outcome.describe()}")


def metadata(
    code: Code,
    name: str,
    patches: tuple[str, ...],
    runtimes: tuple[Runtime, ...] = (),
    probed: Probed | None = None,
) -> dict[str, Any]:
    """What every row of a code target's document shares (common_metadata's twin). pyperf
    takes only one-line strings and numbers as metadata: parts are joined with " ; " and
    a newline in the code is written as "\\n"."""
    optional = (("setup", _one_line(code.setup)),
                ("per_thread_setup", _one_line(code.per_thread_setup)),
                ("patches", "+".join(patches)))  # fmt: skip
    md = base_metadata(
        runtimes,
        scenario=name,
        target="code",
        **{k: v for k, v in optional if v},  # pyperf takes no empty value
        stmt=_one_line((code.stmt,)),
        store="as the code makes them",
        call_path="stock",
    )
    if probed is not None:
        md.update(probed.metadata())
        if not probed.binding.runs_wasmtime_py:
            md.pop("wasmtime_version", None)  # not the engine this code ran
    return md


def _one_line(parts: tuple[str, ...]) -> str:
    return " ; ".join(p.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
                      for p in parts)  # fmt: skip


def target_or_code(
    probed: Probed | None, scenario: Scenario | None
) -> tuple[Target | Code, Compiled | None]:
    """What a command calls: the probed code (which names the binding it calls Wasm
    through), or the scenario compiled and validated. Bad input fails here, before anything
    is planned, for run and race alike."""
    if probed is not None:
        return probed.code, None
    assert scenario is not None
    return prepare_target(scenario)
