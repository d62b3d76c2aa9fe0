"""What the Store guard costs per call: the number the wasmtime-rb PR debate lacked.

For a nop call and a typical small call (`add_i64(2, 3)`), held and released, through the
stock and the lean call path, uncontended (one thread). The guard's cost is a fraction of a
microsecond, smaller than the drift between two processes on a noisy 2-core box, so it is not
measured as the difference of two separate pyperf benchmarks (tried: the differences came out
as large as the calls and of either sign). Instead one child times batches of unguarded and
guarded calls alternately (ABBA order) and the cost is the median of the paired differences,
with their interquartile range.
"""

from __future__ import annotations

from typing import Any

from gvlbench import scenario
from gvlbench.harness.loop import Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.target import common_metadata, prepare_target
from gvlbench.protocol import CallPath, GuardCostTask, Mode
from gvlbench.results import Results

SCENARIOS = ("nop", "add")
ROUNDS = 40


class GuardCostExperiment:
    """One child per (call, path, mode); their samples go into `results.guard_cost`."""

    command = "race --guard-cost"

    def __init__(
        self,
        paths: tuple[CallPath, ...],
        modes: tuple[Mode, ...],
        rounds: int = ROUNDS,
        timeout_s: float = 300.0,
    ):
        self.paths, self.modes, self.rounds, self.timeout_s = paths, modes, rounds, timeout_s

    def metadata(self) -> dict[str, Any]:
        return {}

    def plan(self) -> list[Job]:
        jobs = []
        for name in SCENARIOS:
            scen = scenario.find(name)
            target, compiled = prepare_target(scen)
            for path in self.paths:
                wasmtime_version = common_metadata(scen, compiled, path)["wasmtime_version"]
                for mode in self.modes:
                    task = GuardCostTask(target=target, mode=mode, call_path=str(path),
                                         rounds=self.rounds)  # fmt: skip
                    key = {"scenario": name, "call_path": str(path), "mode": str(mode),
                           "wasmtime_version": wasmtime_version}  # fmt: skip
                    label = f"guard cost: {name}, {path}, {mode}"
                    jobs.append(Job(label, task, None, self.timeout_s, key))
        return jobs

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        if outcome.ok and outcome.answer:
            answer = {k: v for k, v in outcome.answer.items() if k != "ok"}
            results.guard_cost.append({**job.context, **answer})
            return None
        results.add_failure({**job.context, "kind": "guard-cost", "threads": 1}, outcome.to_json())
        return f"{job.label}: {outcome.describe()}"
