"""`gvlbench sweep`: the work size per call at which releasing the lock starts to pay.

A call that does little Wasm work spends most of its time in the binding's Python code, which
holds the GIL in either mode, so threads serialise anyway. The sweep scales a scenario's
work-size argument (its spec's `work_arg`) over log-spaced sizes, and for each (size, call
path) one child times T threads with the lock held and with it released.

Held and released are timed in the same child, in alternating rounds (a round: every thread
makes `loops` calls, the order of the two modes flipped every round), and the gain is the
median of the per-round ratios held / released. The first version timed each mode as its own
pyperf benchmark, one after the other, and on this shared 2-core host, whose speed drifts by up
to 1.8x for seconds at a time, it reported gains of 3.3 for 2 threads (impossible: 2 is the
ceiling). Pairing within rounds cancels the drift.

At each point:
- gain = median over rounds of held wall / released wall (released's throughput over held's);
- verdict = a one-sample t-test (95%, pyperf's t table) on the log of the per-round ratios:
  `faster`, `slower` or `same`;
- it *pays* when the verdict is `faster` and the gain is at least 1 + min_gain.
The crossover is the smallest size that pays and after which every larger size pays too.
Each round also times one lean call alone on its own Store: the Wasm time of one call (plus
the ~0.5 us of the call itself), measured rather than extrapolated.
Each (size, path, mode, threads) is stored as a pyperf benchmark (values: seconds per call
of each thread, one per round, in round order), so pyperf's tools read the file and the pairs
can be re-formed from it.

On a free-threaded interpreter (`--python` a 3.13t) there is no held mode and nothing to
release: the question becomes how the work scales with threads. Each point then pairs one
thread with T threads (the same mode, free-threaded) and the gain is T * t(1) / t(T), the
throughput of T threads over one thread's; it has the same ceiling, T, as released over held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from gvlbench.answers import SweepPointAnswer
from gvlbench.bindings import Feature
from gvlbench.errors import OptionError
from gvlbench.harness.interpreter import Runtime, binding_of, modes_under
from gvlbench.harness.loop import Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.target import common_metadata, prepare_target
from gvlbench.modes import GIL_MODES
from gvlbench.protocol import CallPath, Mode, SweepPointTask
from gvlbench.results import Results, pyperf_benchmark
from gvlbench.scenario import Scenario

DEFAULT_SIZES = (3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000, 3_000_000, 10_000_000,
                 30_000_000)  # fmt: skip
ROUNDS = 20


@dataclass(frozen=True)
class SweepOptions:
    scenario: Scenario
    threads: int = 2
    sizes: tuple[int, ...] = DEFAULT_SIZES
    paths: tuple[CallPath, ...] = CallPath.bindings()
    rounds: int = ROUNDS
    min_gain: float = 0.05
    timeout_s: float = 300.0
    runtime: Runtime | None = None  # None: the harness's own Python

    @property
    def modes(self) -> tuple[Mode, ...]:
        """held and released with a GIL; free-threaded alone without one."""
        return modes_under(GIL_MODES, self.runtime)

    def __post_init__(self) -> None:
        self.scenario.with_work(1)  # SpecError unless the spec has a work_arg
        binding_of(self.runtime, self.scenario.form).require(Feature.SWEEP, "sweep")
        if self.threads < 2:
            raise OptionError(f"--threads must be at least 2 for a sweep, got {self.threads}")
        if not self.sizes or min(self.sizes) < 1:
            raise OptionError("--sizes must be positive integers")
        if self.min_gain < 0:
            raise OptionError("--min-gain must be 0 or more")
        if self.rounds < 3:
            raise OptionError("--rounds must be at least 3")


def sized(scenario: Scenario, size: int) -> Scenario:
    """The scenario with its work argument set to `size`, named `spin[n=3000]`."""
    return replace(scenario.with_work(size), name=f"{scenario.name}[n={size}]")


def log_sizes(low: int, high: int, per_decade: int = 2) -> tuple[int, ...]:
    """Log-spaced integer sizes from low to high, `per_decade` steps per factor of ten."""
    if low < 1 or high < low:
        raise OptionError(f"bad size range {low}..{high}")
    n = max(1, round(math.log10(high / low) * per_decade))
    return tuple(sorted({round(low * (high / low) ** (i / n)) for i in range(n + 1)}))


# -- the harness's side ----------------------------------------------------------------------


def plan(opts: SweepOptions) -> list[tuple[int, CallPath]]:
    """Sizes from small to large, each with every call path."""
    return [(size, path) for size in sorted(opts.sizes) for path in opts.paths]


def point_label(scenario: str, size: int, path: CallPath) -> str:
    return f"{scenario} n={size:,}, {path} path"


class SweepExperiment:
    """One child per (size, path): T threads held and T released, paired within rounds."""

    command = "sweep"

    def __init__(self, opts: SweepOptions):
        self.opts = opts

    def metadata(self) -> dict[str, Any]:
        return sweep_metadata(self.opts)

    def plan(self) -> list[Job]:
        jobs = []
        for size, path in plan(self.opts):
            sc = sized(self.opts.scenario, size)
            target, compiled = prepare_target(sc)
            runtimes = (self.opts.runtime,) if self.opts.runtime else ()
            common = {**common_metadata(sc, compiled, path, runtimes), "work_size": size}
            task = SweepPointTask(target=target, call_path=path, threads=self.opts.threads,
                                  rounds=self.opts.rounds, modes=self.opts.modes)  # fmt: skip
            label = point_label(self.opts.scenario.name, size, path)
            jobs.append(Job(label, task, self.opts.runtime, self.opts.timeout_s, (sc.name, common)))
        return jobs

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        name, common = job.context
        results.metadata = {**common, **results.metadata}
        threads = self.opts.threads
        if outcome.ok:
            answer = outcome.answer_as(SweepPointAnswer)
            for (mode, t), values in answer.cells.items():
                results.add_benchmark(_benchmark(common, name, mode, t, values, answer.loops))
            results.add_benchmark(_alone_benchmark(common, name, answer.alone_s,
                                                   str(self.opts.modes[-1])))  # fmt: skip
            return None
        key = {"scenario": name, "kind": "sweep-point", "mode": "+".join(self.opts.modes),
               "threads": threads,
               "call_path": common["call_path"], "work_size": common["work_size"]}  # fmt: skip
        results.add_failure(key, outcome.to_json())
        return f"{job.label}: {outcome.describe()}"


def sweep_metadata(opts: SweepOptions) -> dict[str, Any]:
    return {
        "scenario": opts.scenario.name,
        "sweep_threads": opts.threads,
        "sweep_sizes": list(opts.sizes),
        "sweep_min_gain": opts.min_gain,
        "sweep_modes": "+".join(opts.modes),
    }


def _benchmark(common: dict[str, Any], name: str, mode: Mode, threads: int,
               values: list[float], loops: int) -> dict[str, Any]:  # fmt: skip
    path = common["call_path"]
    md = {**common, "name": f"{name}/mode={mode}/threads={threads}/path={path}",
          "mode": str(mode), "threads": threads, "guard": "off"}  # fmt: skip
    return pyperf_benchmark(md, values, loops)


def _alone_benchmark(common: dict[str, Any], name: str, alone_s: list[float],
                     mode: str) -> dict[str, Any]:  # fmt: skip
    md = {**common, "name": f"{name}/alone/path={common['call_path']}", "mode": mode,
          "threads": 1, "guard": "off", "alone": "lean"}  # fmt: skip
    return pyperf_benchmark(md, alone_s, 1)
