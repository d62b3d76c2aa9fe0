"""`gvlbench verify`: every correctness check, in its own child process, per mode.

A check that fails against the real binding is a finding: it is reported with its failure
rate over the repeats and a standalone reproducer written next to the results. The known
defects file marks findings CI must live with: they still print, loudly, as XFAIL, and a
known defect that stops failing is an XPASS notice (perhaps fixed upstream).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from itertools import product
from pathlib import Path
from typing import Any

from gvlbench import wat
from gvlbench.answers import CheckAnswer
from gvlbench.bindings import Feature
from gvlbench.checklist import CHECKS, PYTHON_ONLY, modules
from gvlbench.config import read_toml, typed
from gvlbench.errors import ConfigError, OptionError
from gvlbench.files import reported_later
from gvlbench.harness.interpreter import (
    Runtime,
    binding_of,
    call_path_of,
    check_call_path,
    check_patches,
    harness_wasmtime,
    language_of,
    modes_under,
    runtime_names,
)
from gvlbench.harness.loop import Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.modes import GIL_MODES
from gvlbench.protocol import CallPath, CheckTask, Mode
from gvlbench.report.verify import CheckResult
from gvlbench.results import Results

REPRODUCERS = {"exceptions-concurrent": "exceptions_concurrent.py", "wrong-arity": "wrong_arity.py",
               "component-exceptions": "component_exceptions.py"}  # fmt: skip


@dataclass(frozen=True)
class KnownDefect:
    check: str
    modes: tuple[str, ...]
    summary: str
    upstream: str = ""
    runtimes: tuple[str, ...] = ("python",)  # python | ruby: whose binding has the defect
    # the wasmtime-py majors that have it, low and high inclusive (None: every release)
    releases: tuple[int, int] | None = None

    def applies(self, check: str, mode: str, kind: str, wasmtime: str | None) -> bool:
        """Whether this entry explains `check` failing in `mode` on a `kind` runtime whose
        wasmtime-py is `wasmtime` (a release outside `releases` has no such defect)."""
        if self.check != check or mode not in self.modes or kind not in self.runtimes:
            return False
        if self.releases is None:
            return True
        low, high = self.releases
        head = (wasmtime or "").split(".", 1)[0]  # "46" of "46.0.1"
        return head.isdigit() and low <= int(head) <= high


@dataclass(frozen=True)
class VerifyOptions:
    checks: tuple[str, ...] = tuple(CHECKS)
    modes: tuple[Mode, ...] = GIL_MODES
    repeat: int = 5
    threads: int = 4
    call_path: CallPath = CallPath.STOCK
    sabotage: bool = False
    timeout_s: float = 120.0
    known: tuple[KnownDefect, ...] = ()
    findings_dir: Path | None = None  # where reproducers go; None: do not write them
    patches: tuple[str, ...] = ()  # binding patches applied in every check's child
    runtimes: tuple[Runtime, ...] = ()  # empty: the harness's own Python

    def __post_init__(self) -> None:
        unknown = [c for c in self.checks if c not in CHECKS]
        if unknown:
            raise OptionError(f"unknown check {unknown[0]!r} (known: {', '.join(CHECKS)})")
        if self.repeat < 1:
            raise OptionError(f"--repeat must be at least 1, got {self.repeat}")
        if self.threads < 1:
            raise OptionError(f"--threads must be at least 1, got {self.threads}")
        if (
            self.runtimes
            and all(not binding_of(rt).has(Feature.BINDING_CHECKS) for rt in self.runtimes)
            and all(c in PYTHON_ONLY for c in self.checks)
        ):
            binding = binding_of(self.runtimes[0])
            binding.require(Feature.BINDING_CHECKS, f"--check {self.checks[0]}")
        check_call_path(str(self.call_path), self.runtimes)
        check_patches(self.patches, self.runtimes)
        for rt in self.runtimes or (None,):
            modes_under(self.modes, rt)


def load_known(path: Path) -> tuple[KnownDefect, ...]:
    """The known-defects file: [[defect]] tables with check, modes, summary, upstream."""
    data, _ = read_toml(path, "known defects", ConfigError)
    out = []
    for i, d in enumerate(typed(path, "defect", data.get("defect", []), list, ConfigError)):
        where = f"defect[{i}]"
        if not isinstance(d, dict) or d.get("check") not in CHECKS or not d.get("summary"):
            raise ConfigError(f"{path}: {where} needs a known 'check' and a 'summary'")
        every = [m.value for m in Mode if m is not Mode.AS_SHIPPED]
        modes = _names(path, f"{where}.modes", d.get("modes", every), Mode)
        runtimes = _names(path, f"{where}.runtimes", d.get("runtimes", ["python"]),
                          runtime_names())  # fmt: skip
        summary = typed(path, f"{where}.summary", d["summary"], str, ConfigError)
        upstream = typed(path, f"{where}.upstream", d.get("upstream", ""), str, ConfigError)
        releases = _releases(path, f"{where}.wasmtime", d.get("wasmtime"))
        if releases is not None and runtimes != ("python",):
            raise ConfigError(f"{path}: {where}.wasmtime names wasmtime-py releases: give it "
                              'with runtimes = ["python"] alone')  # fmt: skip
        out.append(KnownDefect(d["check"], modes, summary, upstream, runtimes, releases))
    return tuple(out)


def _releases(path: Path, where: str, value: Any) -> tuple[int, int] | None:
    """`wasmtime = [46, 49]`: the wasmtime-py majors that have the defect (None: all)."""
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or value[0] > value[1]):  # fmt: skip
        raise ConfigError(f"{path}: {where} must be [low, high], two wasmtime-py majors, "
                          f"low first (got {value!r})")  # fmt: skip
    return value[0], value[1]


def _names(path: Path, where: str, value: Any, allowed: Any) -> tuple[str, ...]:
    """A list of names, each one of `allowed`."""
    names = tuple(typed(path, where, value, list, ConfigError))
    choices = [str(a) for a in allowed]
    if not all(isinstance(n, str) and n in choices for n in names):
        raise ConfigError(f"{path}: {where} must be a list of {' and/or '.join(choices)}")
    return names


class VerifyExperiment:
    """Every (runtime, check, mode), a child each; `checked` keeps the judged rows in order."""

    command = "verify"

    def __init__(self, opts: VerifyOptions):
        self.opts = opts
        self.checked: list[CheckResult] = []

    def metadata(self) -> dict[str, Any]:
        return {"patches": ",".join(self.opts.patches)} if self.opts.patches else {}

    def plan(self) -> list[Job]:
        o = self.opts
        runtimes: tuple[Runtime | None, ...] = o.runtimes or (None,)
        needs = {id(rt): binding_of(rt).compiled_modules_needed() for rt in runtimes}
        compiled = check_modules() if any(needs.values()) else None
        return [
            Job(
                f"checking {check} [{mode}]",
                CheckTask(
                    check=check,
                    mode=mode,
                    call_path=call_path_of(runtime, str(o.call_path)),
                    threads=o.threads,
                    repeat=o.repeat,
                    sabotage=o.sabotage,
                    modules=compiled if needs[id(runtime)] else None,
                    patches=o.patches,
                ),
                runtime,
                o.timeout_s,
                (check, mode),
            )
            for runtime in runtimes
            for check, mode in product(o.checks, modes_under(o.modes, runtime))
            if check not in PYTHON_ONLY or binding_of(runtime).has(Feature.BINDING_CHECKS)
        ]

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        check, mode = job.context
        result = _judge(self.opts, check, mode, outcome, job.runtime)
        self.checked.append(result)
        results.verify.append(_record(result))
        return None


def check_modules() -> dict[str, str]:
    """The checks' modules compiled (cached by content), for a worker that cannot compile WAT."""
    return {name: str(wat.compile_text(text, name.lower()).wasm_path)
            for name, text in modules().items()}  # fmt: skip


def _judge(
    opts: VerifyOptions,
    check: str,
    mode: Mode,
    outcome: ChildOutcome,
    runtime: Runtime | None = None,
) -> CheckResult:
    answer = outcome.answer_as(CheckAnswer) if outcome.ok else None
    if answer is not None:
        failed, repeat = answer.failed, answer.repeat
        detail = "; ".join(answer.failures[:1] or answer.notes[:1])
    else:  # the check's child crashed, hung or raised outside the check: always a failure
        failed, repeat, detail = opts.repeat, opts.repeat, outcome.describe()
    kind = language_of(runtime)
    wasmtime = getattr(runtime, "wasmtime", None) or harness_wasmtime()
    known = next((k for k in opts.known if k.applies(check, str(mode), kind, wasmtime)), None)
    crashed = answer is None
    if answer is not None and answer.not_applicable:
        status, detail = "N/A", f"not applicable: {answer.not_applicable}"
    elif failed and known and not crashed:
        status = "XFAIL"
    elif failed:
        status = "FAIL"
    elif known and opts.patches:  # the patch is the explanation, not a surprise upstream fix
        status = "FIXED"
    else:
        status = "XPASS" if known else "PASS"
    reproducer = ""
    if (
        failed
        and opts.findings_dir
        and check in REPRODUCERS
        and not opts.sabotage
        and kind == "python"
    ):
        with reported_later(opts.findings_dir, "a reproducer in"):
            reproducer = str(write_reproducer(check, mode, opts.findings_dir))
    return CheckResult(check, str(mode), status, failed, repeat, detail,
                       _elapsed_s(answer, outcome),
                       known.summary if known else "", reproducer,
                       outcome.to_json(), kind, runtime.label if runtime else "",
                       call_path_of(runtime, str(opts.call_path)),
                       ",".join(opts.patches) if status == "FIXED" else "")  # fmt: skip


def _elapsed_s(answer: CheckAnswer | None, outcome: ChildOutcome) -> float:
    """The check's own time where it said it, else its child's."""
    if answer is not None and answer.elapsed_s is not None:
        return answer.elapsed_s
    return outcome.duration_s


def _record(r: CheckResult) -> dict[str, Any]:
    return {"check": r.check, "mode": r.mode, "status": r.status, "failed": r.failed,
            "repeat": r.repeat, "rate": r.rate, "detail": r.detail, "elapsed_s": r.elapsed_s,
            "known": r.known, "reproducer": r.reproducer, "outcome": r.outcome,
            "runtime": r.runtime, "interpreter": r.interpreter,
            "call_path": r.call_path, "fixed_by": r.fixed_by}  # fmt: skip


def write_reproducer(check: str, mode: Mode, directory: Path) -> Path:
    """A standalone script (plain python, wasmtime only) that reproduces the finding."""
    pkg = resources.files("gvlbench.repro")
    body = (pkg / REPRODUCERS[check]).read_text()
    header = (
        f'"""Reproducer written by gvlbench verify: check {check!r}, mode {str(mode)!r}.\n\n'
        f'Run with plain python (needs only wasmtime). Exits 1 while the defect reproduces.\n"""\n'
        f'MODE = "{mode}"\n'
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{check}-{mode}.py"
    path.write_text(header + (pkg / "_mode.py").read_text() + body)
    return path
