"""Python-code targets on the harness's side: checked, probed and described before measuring.

A code target (`--setup`, `--per-thread-setup`, `--stmt`) is code the user typed, so what is
wrong with it is bad input, told in one line before any measuring child starts: a part that
does not compile (checked here, with no child), setup that raises, or a statement that raises
(or kills its process) when run alone, which is a property of the code, not a race. The probe
is one child that does exactly that (worker/code.py `probe`), under the first runtime and mode
the command will measure, with its patches.
"""

from __future__ import annotations

from typing import Any

from gvlbench import pycode
from gvlbench.bindings import Form
from gvlbench.errors import CodeError
from gvlbench.harness.interpreter import Runtime, binding_of, check_patches, modes_under
from gvlbench.harness.loop import ChildExecutor, Job
from gvlbench.harness.target import base_metadata
from gvlbench.protocol import Code, CodeProbeTask, Mode

PROBE_TIMEOUT_S = 120.0


def check(code: Code, patches: tuple[str, ...], runtimes: tuple[Runtime, ...]) -> None:
    """What can be told without a child: the parts compile, the patches exist, and every
    runtime has a binding that runs code."""
    for rt in runtimes:
        binding_of(rt, Form.CODE)
    check_patches(patches, runtimes, Form.CODE)
    pycode.check(code)


def probe(
    code: Code,
    patches: tuple[str, ...] = (),
    runtime: Runtime | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> dict[str, Any]:
    """Run the probe child, bounded by the command's --timeout as every child is; CodeError
    (one line) for what it found wrong with the code.

    It runs released whatever the command measures: that is how wasmtime-py runs the code
    today, and held may hang for reasons of the lock, not the code (a WASI program's
    custom stdout is called from a wasmtime thread that then waits for the held GIL), which
    is a finding for the measurement to show, not bad input."""
    # released even for --mode held alone (a held deadlock is the finding); free-threaded on a
    # build without a GIL
    mode = modes_under((Mode.RELEASED,), runtime)[0]
    task = CodeProbeTask(target=code, mode=mode, call_path="stock", patches=patches)
    outcome = ChildExecutor().run(
        Job("probing the code", task, runtime, min(timeout_s, PROBE_TIMEOUT_S))
    )
    if outcome.ok and outcome.answer:
        return outcome.answer
    if outcome.status == "raised" and outcome.answer:
        error = outcome.answer.get("error", {})
        if error.get("type") == "CodeError":
            raise CodeError(error.get("message", "the code failed"))
    raise CodeError(f"run alone, the code did not finish: {outcome.describe()}")


def metadata(
    code: Code, name: str, patches: tuple[str, ...], runtimes: tuple[Runtime, ...] = ()
) -> dict[str, Any]:
    """What every row of a code target's document shares (common_metadata's twin). pyperf
    takes only one-line strings and numbers as metadata: parts are joined with " ; " and
    a newline in the code is written as "\\n"."""
    optional = (("setup", _one_line(code.setup)),
                ("per_thread_setup", _one_line(code.per_thread_setup)),
                ("patches", "+".join(patches)))  # fmt: skip
    return base_metadata(
        runtimes,
        scenario=name,
        target="code",
        **{k: v for k, v in optional if v},  # pyperf takes no empty value
        stmt=_one_line((code.stmt,)),
        store="as the code makes them",
        call_path="stock",
    )


def _one_line(parts: tuple[str, ...]) -> str:
    return " ; ".join(p.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
                      for p in parts)  # fmt: skip
