"""What a Store guard costs per call: the number the wasmtime-rb PR debate lacked.

Two guards side by side: `python` (binding/guard.py, or the Ruby worker's guard written in
Ruby) and `native` (one compare-and-swap in C, gvlbench/native/guard.c: what a binding would
really pay). For a nop call and a typical small call (`add_i64(2, 3)`), held and released,
through the raw, lean and stock call paths, uncontended (one thread), and through the Ruby
worker's call when Ruby runs here. The cost is a fraction of a microsecond, smaller than the
drift between two processes on a noisy 2-core box, so it is not measured as the difference of
two separate pyperf benchmarks (tried: the differences came out as large as the calls and of
either sign). Instead one child times batches of the unguarded call and of each guarded one
in turn, the order reversed every other round (ABC CBA), and each guard's cost is the median
of its paired differences with the unguarded batch of the same round, with their
interquartile range.
"""

from __future__ import annotations

from typing import Any

from gvlbench import native, scenario
from gvlbench.errors import InterpreterError, OptionError
from gvlbench.harness.interpreter import RUBY_CALL_PATH, RubyRuntime, probe_ruby
from gvlbench.harness.loop import Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.target import common_metadata, prepare_target
from gvlbench.protocol import CallPath, GuardCostTask, Mode
from gvlbench.results import Results

SCENARIOS = ("nop", "add")
ROUNDS = 40


def choose_runtimes(names: tuple[str, ...]) -> tuple[bool, RubyRuntime | None]:
    """(measure Python?, the Ruby to measure or None): the `--runtime`s named, or with none
    named, Python and Ruby where it runs."""
    if names:
        return "python" in names, probe_ruby() if "ruby" in names else None
    try:
        return True, probe_ruby()
    except InterpreterError:
        return True, None


class GuardCostExperiment:
    """One child per (call, path, mode[, runtime]); their samples go into `results.guard_cost`.
    Without a C compiler the native guard is not measured and its rows say why."""

    command = "race --guard-cost"

    def __init__(
        self,
        paths: tuple[CallPath, ...],
        modes: tuple[Mode, ...],
        rounds: int = ROUNDS,
        timeout_s: float = 300.0,
        ruby: RubyRuntime | None = None,
    ):
        if rounds < 2:
            raise OptionError(f"--rounds must be at least 2, got {rounds}")
        self.paths, self.modes, self.rounds, self.timeout_s = paths, modes, rounds, timeout_s
        self.ruby = ruby
        self.native_unavailable = native.unavailable_reason()

    def metadata(self) -> dict[str, Any]:
        return {}

    def plan(self) -> list[Job]:
        guards = ("python",) if self.native_unavailable else ("python", "native")
        unavailable = {"native": self.native_unavailable} if self.native_unavailable else {}
        runs: list[tuple[str, RubyRuntime | None]] = [(str(p), None) for p in self.paths]
        runs += [(RUBY_CALL_PATH, self.ruby)] if self.ruby else []
        jobs = []
        for name in SCENARIOS:
            scen = scenario.find(name)
            target, compiled = prepare_target(scen)
            for path, runtime in runs:
                meta = common_metadata(scen, compiled, path if runtime is None else "stock")
                for mode in self.modes:
                    task = GuardCostTask(target=target, mode=mode, call_path=path,
                                         rounds=self.rounds, guards=guards)  # fmt: skip
                    key = {"scenario": name, "call_path": path, "mode": str(mode),
                           "runtime": "ruby" if runtime else "python",
                           "wasmtime_version": meta["wasmtime_version"],
                           "unavailable": unavailable}  # fmt: skip
                    label = f"guard cost: {name}, {path}, {mode}"
                    jobs.append(Job(label, task, runtime, self.timeout_s, key))
        return jobs

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        if outcome.ok and outcome.answer:
            answer = {k: v for k, v in outcome.answer.items() if k != "ok"}
            results.guard_cost.append({**job.context, **answer})
            return None
        results.add_failure({**job.context, "kind": "guard-cost", "threads": 1}, outcome.to_json())
        return f"{job.label}: {outcome.describe()}"
