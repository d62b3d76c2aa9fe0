"""The Store guard's cost per call, from the paired batches a guard-cost child measured."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from gvlbench.results import Results


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
