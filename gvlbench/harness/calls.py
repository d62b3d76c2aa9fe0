"""`gvlbench calls`: what one call costs along each call path, held and released, in one run.

Four paths, cheapest first (see invoke.py): `floor` (a bare ctypes call into the library),
`raw` (wasmtime_func_call with prepared buffers, nothing checked), `lean` (raw plus the error
and trap checks and the result conversion: the least a correct binding can do) and `stock`
(wasmtime-py's Func.__call__). The verdicts are ratios: lean/raw (what correctness costs) and
stock/lean (what the generic binding costs on top).

These are sub-microsecond differences on a shared 2-core host whose speed drifts by up to 1.8x
for seconds at a time. Timed as separate pyperf benchmarks, one after the other, lean/raw came
out anywhere from 1.0 to 1.9 in a single run. So, as for the guard's cost, one child per call
times all four paths in both modes in interleaved batches (each batch ~10 ms, the order
rotated every round; the stock path's process-wide binding is pointed at the batch's mode
before each batch) and every ratio, released/held included, is the median of per-round
ratios: both sides of each ratio come from the same few milliseconds. Each series is still
stored as a pyperf benchmark (values: seconds per call), so pyperf's tools read the file.

With `--threads T` (the default on a free-threaded interpreter, T=2), every (path, mode) is
also timed as T threads calling at once, each on its own Store, in the same rotation. The
scaling T * t(1) / t(T) shows whose work runs in parallel: with a GIL, the stock path's
Python code is serialised whether the call releases the lock or not; without one, it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gvlbench import scenario as scenario_mod
from gvlbench.answers import CallsAnswer, CallSeries
from gvlbench.bindings import Feature
from gvlbench.errors import OptionError
from gvlbench.harness.interpreter import Runtime, binding_of, free_threaded, modes_under
from gvlbench.harness.loop import Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.target import common_metadata, prepare_target
from gvlbench.modes import GIL_MODES
from gvlbench.protocol import CallPath, CallsTask, Mode
from gvlbench.report.calls import PATHS
from gvlbench.results import Results, pyperf_benchmark

DEFAULT_SCENARIOS = ("nop", "add")
ROUNDS = 40
FREE_THREADED_THREADS = 2  # a free-threaded build's question is scaling: a team by default


@dataclass(frozen=True)
class CallsOptions:
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS
    modes: tuple[Mode, ...] = GIL_MODES
    rounds: int = ROUNDS
    timeout_s: float = 300.0
    threads: int | None = None  # None: 1 with a GIL, FREE_THREADED_THREADS without
    runtime: Runtime | None = None  # None: the harness's own Python

    def __post_init__(self) -> None:
        if self.threads is not None and self.threads < 1:
            raise OptionError(f"--threads must be at least 1, got {self.threads}")
        modes_under(self.modes, self.runtime)
        for name in self.scenarios:  # a binding with one call path has none to price
            form = scenario_mod.find(name).form
            binding_of(self.runtime, form).require(Feature.CALLS, f"calls --scenario {name}")

    @property
    def measured_modes(self) -> tuple[Mode, ...]:
        return modes_under(self.modes, self.runtime)

    @property
    def team(self) -> int:
        """Threads per team: one (no team) unless asked, or on a build with no GIL."""
        if self.threads is not None:
            return self.threads
        return FREE_THREADED_THREADS if free_threaded(self.runtime) else 1


class CallsExperiment:
    """One child per call, every (path, mode) of it interleaved; each series becomes a pyperf
    benchmark in one document."""

    command = "calls"

    def __init__(self, opts: CallsOptions):
        self.opts = opts

    def metadata(self) -> dict[str, Any]:
        return {"scenario": ",".join(self.opts.scenarios), "calls_threads": self.opts.team}

    def plan(self) -> list[Job]:
        jobs = []
        for name in self.opts.scenarios:
            scen = scenario_mod.find(name)
            target, compiled = prepare_target(scen)
            o, modes = self.opts, self.opts.measured_modes
            runtimes = (o.runtime,) if o.runtime else ()
            common = common_metadata(scen, compiled, CallPath.STOCK, runtimes)
            task = CallsTask(target=target, rounds=o.rounds, paths=PATHS, modes=modes,
                             threads=o.team)  # fmt: skip
            label = f"{name}: {', '.join(map(str, PATHS))} x {', '.join(map(str, modes))}"
            if o.team > 1:
                label += f", 1 and {o.team} threads"
            jobs.append(Job(label, task, o.runtime, o.timeout_s, (name, common)))
        return jobs

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        name, common = job.context
        results.metadata = {**common, **results.metadata}
        if outcome.ok:
            for series in outcome.answer_as(CallsAnswer).series:
                results.add_benchmark(_benchmark(common, name, series))
            return None
        for mode in self.opts.measured_modes:
            key = {"scenario": name, "kind": "calls", "mode": str(mode), "threads": 1}
            results.add_failure(key, outcome.to_json())
        return f"{job.label}: {outcome.describe()}"


def _benchmark(common: dict[str, Any], name: str, series: CallSeries) -> dict[str, Any]:
    """A pyperf benchmark of one (path, mode): values are seconds per call, one per batch, in
    round order (so two series of one child pair up by index)."""
    path, mode, loops, threads = series.path, series.mode, series.loops, series.threads
    md = {**common, "name": f"{name}/mode={mode}/threads={threads}/path={path}",
          "mode": mode, "threads": threads, "call_path": path,
          "guard": "off"}  # fmt: skip
    return pyperf_benchmark(md, [ns * 1e-9 for ns in series.ns], loops)
