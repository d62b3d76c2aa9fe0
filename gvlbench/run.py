"""A `run`: every (mode, thread count) of one scenario measured in its own child process.

The harness compiles and validates the scenario once, then walks the plan. Each step's child
is isolated: a crash or hang becomes a failure row and the walk goes on. After each step the
results file (when asked for) is rewritten atomically, so nothing measured is ever lost.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import wasmtime

from gvlbench import __version__, wat
from gvlbench.embed import Target, load_module, validate
from gvlbench.errors import OptionError, WatError
from gvlbench.interpreter import (
    Runtime,
    call_path_of,
    check_call_path,
    kind_of,
    runtimes_metadata,
)
from gvlbench.invoke import CallPath, Mode
from gvlbench.pool import EXECUTORS
from gvlbench.results import Results, write_atomic
from gvlbench.runner import ChildOutcome, run_child, worker_argv
from gvlbench.scenario import Scenario
from gvlbench.worker import PROTOCOL


@dataclass(frozen=True)
class PyperfOptions:
    """pyperf's knobs. Defaults are lighter than pyperf's own (20 processes x 3 values):
    gvlbench's calls are long and its box has 2 cores; --rigorous gets closer to pyperf."""

    processes: int = 4
    values: int = 3
    warmups: int = 1
    min_time: float = 0.1
    loops: int = 0

    @classmethod
    def preset(cls, name: str) -> PyperfOptions:
        return {
            "fast": cls(processes=2, values=3),
            "default": cls(),
            "rigorous": cls(processes=10, values=5, min_time=0.2),
        }[name]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RunOptions:
    scenario: Scenario
    max_threads: int
    modes: tuple[Mode, ...] = (Mode.HELD, Mode.RELEASED)
    call_path: CallPath = CallPath.STOCK
    pyperf: PyperfOptions = field(default_factory=PyperfOptions)
    progress_repeats: int = 5
    timeout_s: float = 300.0
    output: Path | None = None
    # runtimes to run the children under (probed: other Pythons, Ruby); empty: the harness's
    # own Python
    runtimes: tuple[Runtime, ...] = ()
    # --mode processes: threads vs a process pool on the same total work (see pool.py)
    pool: bool = False
    pool_calls: int = 20  # calls per worker at the largest worker count
    pool_repeats: int = 4  # fresh children per (executor, workers), alternating executors

    def __post_init__(self) -> None:
        if self.pool_calls < 1 or self.pool_repeats < 1:
            raise OptionError("--pool-calls and --pool-repeats must be at least 1")
        if self.max_threads < 1:
            raise OptionError(f"--threads must be at least 1, got {self.max_threads}")
        if self.progress_repeats < 0:
            raise OptionError("--progress-repeats must be 0 or more")
        if self.pool and any(kind_of(rt) != "python" for rt in self.runtimes):
            raise OptionError("--mode processes pools Python workers only; drop --runtime ruby")
        check_call_path(str(self.call_path), self.runtimes)


@dataclass(frozen=True)
class Step:
    scenario: str
    kind: str  # bench | progress
    mode: Mode
    threads: int
    guard: bool = False  # the Store guard around every call (see guard.py)
    call_path: CallPath | None = None  # None: the run's call path
    check_each_call: bool = True  # False: checked once, then timed bare (`gvlbench calls`)
    runtime: Runtime | None = None  # None: the harness's own interpreter
    executor: str = ""  # kind "pool": threads | processes

    def label(self) -> str:
        scenario = self.scenario
        extra = "".join(
            f", {x}"
            for x in (
                self.call_path and f"{self.call_path} path",
                self.runtime and self.runtime.label,
                self.guard and "guarded",
            )
            if x
        )
        if self.kind == "progress":
            return f"{scenario} progress, {self.mode}{extra}"
        if self.kind == "pool":
            return f"{scenario}, {self.threads} {self.executor}{extra}"
        return f"{scenario}, {self.mode}, {self.threads} thread{'s' * (self.threads > 1)}{extra}"


def thread_sweep(max_threads: int) -> list[int]:
    """1, 2, 4, ... up to max_threads, and max_threads itself."""
    counts, n = [], 1
    while n < max_threads:
        counts.append(n)
        n *= 2
    return [*counts, max_threads]


def modes_for(opts_modes: tuple[Mode, ...], runtime: Runtime | None) -> tuple[Mode, ...]:
    """A free-threaded interpreter has no GIL to hold: its one mode is the released call
    (shown as `free-threaded`)."""
    if runtime is not None and runtime.free_threaded:
        return (Mode.RELEASED,)
    return opts_modes


def plan(opts: RunOptions) -> list[Step]:
    """Modes (and interpreters) interleaved at each thread count, so slow drift of a noisy
    box hits them all alike."""
    name = opts.scenario.name
    runtimes: tuple[Runtime | None, ...] = opts.runtimes or (None,)
    if opts.pool:  # one job per fresh child, the executors alternating (ABBA) repeat by repeat
        return [
            Step(name, "pool", Mode.RELEASED, t, runtime=rt, executor=e)
            for t in thread_sweep(opts.max_threads)
            for rt in runtimes
            for i in range(opts.pool_repeats)
            for e in (EXECUTORS if i % 2 == 0 else EXECUTORS[::-1])
        ]
    steps = [
        Step(name, "bench", m, t, runtime=rt)
        for t in thread_sweep(opts.max_threads)
        for rt in runtimes
        for m in modes_for(opts.modes, rt)
    ]
    if opts.progress_repeats:
        steps += [
            Step(name, "progress", m, 1, runtime=rt)
            for rt in runtimes
            for m in modes_for(opts.modes, rt)
        ]
    return steps


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def gil_status() -> str:
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    return "enabled" if is_enabled is None or is_enabled() else "disabled"


def prepare_target(scenario: Scenario) -> tuple[Target, wat.Compiled]:
    """Compile and validate in the harness: bad input fails here, before any child runs."""
    compiled = wat.compile_wat(scenario.wat_path)
    target = Target(
        str(compiled.wasm_path),
        scenario.export,
        scenario.args,
        scenario.imports,
        scenario.expect_result,
        scenario.expect_trap,
    )
    try:
        module = load_module(wasmtime.Engine(), target.wasm_path)
    except WatError as exc:  # name the source, not the cache file
        raise WatError(f"{scenario.wat_path}: {exc}") from None
    validate(module, target)
    return target, compiled


def common_metadata(
    scenario: Scenario,
    compiled: wat.Compiled,
    call_path: CallPath,
    runtimes: tuple[Runtime, ...] = (),
) -> dict[str, Any]:
    """What every row shares; pyperf adds its own (Python, CPU model, date, ...) per run.
    With `runtimes`, the runtime keys describe those (each row carries its own as well)."""
    return {
        "gvlbench_version": __version__,
        "wasmtime_version": version("wasmtime"),
        "runtime": "python",
        "runtime_version": platform.python_version(),
        "lock": "GIL",
        "gil": gil_status(),
        "usable_cpus": cpu_count(),
        "scenario": scenario.name,
        "spec_sha256": scenario.spec_sha256,
        "wasm_sha256": compiled.wasm_sha256,
        "wat_compiler": compiled.compiler,
        "store": "per-thread",
        "call_path": str(call_path),
        **runtimes_metadata(runtimes),
        # the harness's own interpreter, whichever runtimes measured
        "harness_python": platform.python_version(),
        "harness_gil": gil_status(),
    }


@dataclass(frozen=True)
class Prepared:
    """A run whose scenario compiled and validated: nothing left that bad input can break."""

    opts: RunOptions
    target: Target
    compiled: wat.Compiled


def prepare(opts: RunOptions) -> Prepared:
    target, compiled = prepare_target(opts.scenario)
    return Prepared(opts, target, compiled)


def execute(
    prepared: Prepared,
    on_step: Callable[[Step, ChildOutcome | None], None] = lambda s, o: None,
    steps: list[Step] | None = None,
    results: Results | None = None,
) -> Results:
    """Measure every step (default: the plan); `on_step(step, None)` before each,
    `(step, outcome)` after. Pass `results` to add to a document another run started."""
    opts, target, compiled = prepared.opts, prepared.target, prepared.compiled
    common = common_metadata(opts.scenario, compiled, opts.call_path, opts.runtimes)
    if results is None:
        results = Results(metadata=common, command="run")
    else:  # a document another run started: its own keys win
        results.metadata = {**common, **results.metadata}
    for step in plan(opts) if steps is None else steps:
        on_step(step, None)
        argv, env = (
            (step.runtime.argv(), step.runtime.env()) if step.runtime else (worker_argv(), None)
        )
        outcome = run_child(argv, _task(opts, target, common, step), opts.timeout_s, env=env)
        _record(results, opts.scenario, step, outcome)
        if opts.output:
            write_atomic(opts.output, results)
        on_step(step, outcome)
    return results


def bench_name(
    scenario: str,
    mode: Mode,
    threads: int,
    guard: bool = False,
    call_path: CallPath | None = None,
    runtime: Runtime | None = None,
) -> str:
    """scenario/mode=M/threads=N, then /path=P, /python=V (or /ruby=V) and /guard=on where
    they apply."""
    name = f"{scenario}/mode={mode}/threads={threads}"
    if call_path is not None:
        name += f"/path={call_path}"
    if runtime is not None:
        name += runtime.name_suffix
    return name + ("/guard=on" if guard else "")


def _task(opts: RunOptions, target: Target, common: dict[str, Any], step: Step) -> dict[str, Any]:
    path = call_path_of(step.runtime, str(step.call_path or opts.call_path))
    name = bench_name(
        opts.scenario.name, step.mode, step.threads, step.guard, step.call_path, step.runtime
    )
    return {
        "protocol": PROTOCOL,
        "kind": step.kind,
        "name": name,
        "target": target.to_json(),
        "mode": str(step.mode),
        "call_path": str(path),
        "check_each_call": step.check_each_call,
        "threads": step.threads,
        "guard": step.guard,
        "pyperf": opts.pyperf.to_json(),
        "repeats": 1 if step.kind == "pool" else opts.progress_repeats,
        "executor": step.executor,
        "overlap_threads": opts.max_threads if step.kind == "progress" else 0,
        "total_calls": opts.pool_calls * opts.max_threads,
        "metadata": {
            **common,
            "mode": str(step.mode),
            "threads": step.threads,
            "guard": "on" if step.guard else "off",
            "call_path": path,
            **(step.runtime.metadata() if step.runtime else {}),
        },
    }


def _record(results: Results, scenario: Scenario, step: Step, outcome: ChildOutcome) -> None:
    key = {
        "scenario": scenario.name,
        "kind": step.kind,
        "mode": str(step.mode),
        "threads": step.threads,
        "guard": step.guard,
        **({"call_path": str(step.call_path)} if step.call_path else {}),
        **(
            {
                "interpreter": step.runtime.label,
                "gil": step.runtime.gil,
                "runtime": kind_of(step.runtime),
            }
            if step.runtime
            else {}
        ),
    }
    if step.kind == "pool":
        key["executor"] = step.executor
    if not outcome.ok or outcome.answer is None:
        results.add_failure(key, outcome.to_json())
    elif step.kind == "pool":
        answer = outcome.answer
        results.pool.append({**key, **{k: answer[k] for k in ("wall_s", "peak_rss_kib", "calls")}})
    elif step.kind == "bench":
        results.add_benchmark(outcome.answer["benchmark"])
    else:
        answer = outcome.answer
        extra = {k: answer[k] for k in ("overlap", "overlap_threads") if k in answer}
        results.add_progress(
            {**key, "via": outcome.answer["via"], "samples": outcome.answer["samples"], **extra}
        )
