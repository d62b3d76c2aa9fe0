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

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gvlbench import scenario
from gvlbench.invoke import CallPath, Mode
from gvlbench.measure import batch_ns, loops_for
from gvlbench.results import Results
from gvlbench.run import common_metadata, prepare_target
from gvlbench.runner import ChildOutcome, run_child, worker_argv
from gvlbench.worker import PROTOCOL

SCENARIOS = ("nop", "add")
BATCH_S = 0.01
ROUNDS = 40


@dataclass(frozen=True)
class GuardCostRow:
    scenario: str
    call_path: str
    mode: str
    unguarded_ns: float
    guarded_ns: float
    cost_ns: float  # median of paired differences
    cost_q1_ns: float
    cost_q3_ns: float
    rounds: int

    @property
    def share(self) -> float:
        return self.cost_ns / self.unguarded_ns


# -- the child's side ------------------------------------------------------------------------


def measure(task: dict[str, Any]) -> dict[str, Any]:
    """Paired, interleaved batches of the plain and the guarded call in this one process."""
    from gvlbench.embed import Target, make_embeddings
    from gvlbench.guard import StoreGuard, guarded

    target = Target.from_json(task["target"])
    (emb,) = make_embeddings(target, Mode(task["mode"]), CallPath(task["call_path"]), 1)
    emb.checked_call()
    plain = emb.call
    wrapped = guarded(plain, StoreGuard("store-0"))
    loops = loops_for(plain, task.get("batch_s", BATCH_S))
    batch_ns(wrapped, loops)  # warm-up of the wrapper
    unguarded, guarded_ns = [], []
    for r in range(task.get("rounds", ROUNDS)):
        if r % 2 == 0:
            unguarded.append(batch_ns(plain, loops))
            guarded_ns.append(batch_ns(wrapped, loops))
        else:
            guarded_ns.append(batch_ns(wrapped, loops))
            unguarded.append(batch_ns(plain, loops))
    return {"loops": loops, "unguarded_ns": unguarded, "guarded_ns": guarded_ns}


# -- the harness's side ----------------------------------------------------------------------


def plan_size(paths: tuple[CallPath, ...], modes: tuple[Mode, ...]) -> int:
    return len(SCENARIOS) * len(paths) * len(modes)


def execute_guard_cost(
    paths: tuple[CallPath, ...],
    modes: tuple[Mode, ...],
    on_step: Callable[[str, ChildOutcome | None], None],
    results: Results,
    rounds: int = ROUNDS,
    timeout_s: float = 300.0,
) -> Results:
    """One child per (call, path, mode); their samples go into `results.guard_cost`."""
    for name in SCENARIOS:
        scen = scenario.find(name)
        target, compiled = prepare_target(scen)
        for path in paths:
            common = common_metadata(scen, compiled, path)
            for mode in modes:
                label = f"guard cost: {name}, {path}, {mode}"
                on_step(label, None)
                task = {"protocol": PROTOCOL, "kind": "guard-cost", "target": target.to_json(),
                        "mode": str(mode), "call_path": str(path), "rounds": rounds}  # fmt: skip
                outcome = run_child(worker_argv(), task, timeout_s)
                key = {"scenario": name, "call_path": str(path), "mode": str(mode),
                       "wasmtime_version": common["wasmtime_version"]}  # fmt: skip
                if outcome.ok and outcome.answer:
                    results.guard_cost.append({**key, **outcome.answer})
                    results.guard_cost[-1].pop("ok", None)
                else:
                    results.add_failure({**key, "kind": "guard-cost", "threads": 1},
                                        outcome.to_json())  # fmt: skip
                on_step(label, outcome)
    return results


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def guard_cost_rows(results: Results) -> list[GuardCostRow]:
    rows = []
    for g in results.guard_cost:
        diffs = [b - a for a, b in zip(g["unguarded_ns"], g["guarded_ns"], strict=True)]
        if not diffs:
            continue
        q1, q3 = _quartiles(diffs)
        rows.append(GuardCostRow(
            g["scenario"], g["call_path"], g["mode"], statistics.median(g["unguarded_ns"]),
            statistics.median(g["guarded_ns"]), statistics.median(diffs), q1, q3, len(diffs),
        ))  # fmt: skip
    return sorted(rows, key=lambda r: (r.scenario, r.call_path, r.mode))
