"""The Store guards' cost per operation, from the paired batches a guard-cost child measured."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from gvlbench.designs import ACCESSORS, GUARDS
from gvlbench.results import Results


@dataclass(frozen=True)
class GuardCost:
    """One guard's cost on one call, or why it was not measured."""

    guard: str
    guarded_ns: float = 0.0
    cost_ns: float = 0.0  # median of paired differences
    cost_q1_ns: float = 0.0
    cost_q3_ns: float = 0.0
    share: float = 0.0  # cost / unguarded call
    unavailable: str | None = None


@dataclass(frozen=True)
class GuardCostRow:
    scenario: str  # the call's scenario (nop, add), or the accessor (memory.size, ...)
    call_path: str
    mode: str
    unguarded_ns: float
    rounds: int
    guards: tuple[GuardCost, ...]
    entry: str = "call"  # designs.ENTRIES, or "code": a user's statement, whole
    entries: dict[str, int] | None = None  # a statement's Store entries per run, by C name
    processes: int = 1  # the children whose batches were pooled
    runtime: str = "python"  # the language whose worker measured it

    def guard(self, kind: str) -> GuardCost | None:
        return next((g for g in self.guards if g.guard == kind), None)


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def _cost(kind: str, unguarded: list[float], guarded: list[float]) -> GuardCost:
    diffs = [b - a for a, b in zip(unguarded, guarded, strict=True)]
    q1, q3 = _quartiles(diffs)
    cost = statistics.median(diffs)
    return GuardCost(kind, statistics.median(guarded), cost, q1, q3,
                     cost / statistics.median(unguarded))  # fmt: skip


def _guarded_samples(g: dict[str, Any]) -> dict[str, list[float]]:
    """Per guard kind; a file from before the native guard has one list: the python guard's."""
    samples = g.get("guarded_ns", {})
    return {"python": samples} if isinstance(samples, list) else samples


def _key(g: dict[str, Any]) -> tuple[Any, ...]:
    return (g.get("entry", "call"), g["scenario"], g["call_path"], g["mode"],
            g.get("runtime", "python"))  # fmt: skip


def _pooled(group: list[dict[str, Any]]) -> dict[str, Any]:
    """One row's children pooled: each child's batches stay paired with each other, and the
    difference between children (code layout, where the process landed) is in the spread."""
    first = group[0]
    unguarded = [v for g in group for v in g["unguarded_ns"]]
    samples: dict[str, list[float]] = {}
    for g in group:
        for kind, values in _guarded_samples(g).items():
            samples.setdefault(kind, []).extend(values)
    return {**first, "unguarded_ns": unguarded, "guarded_ns": samples,
            "processes": len(group)}  # fmt: skip


def guard_cost_rows(results: Results) -> list[GuardCostRow]:
    """One row per (entry point, scenario, path, mode, runtime), its children pooled."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for g in results.guard_cost:
        if g["unguarded_ns"]:
            groups.setdefault(_key(g), []).append(g)
    rows = []
    for group in groups.values():
        g = _pooled(group)
        unguarded, samples = g["unguarded_ns"], g["guarded_ns"]
        costs = [_cost(k, unguarded, samples[k]) for k in GUARDS if samples.get(k)]
        costs += [GuardCost(k, unavailable=why) for k, why in g.get("unavailable", {}).items()]
        costs.sort(key=lambda c: GUARDS.index(c.guard) if c.guard in GUARDS else len(GUARDS))
        rows.append(GuardCostRow(g["scenario"], g["call_path"], g["mode"],
                                 statistics.median(unguarded), len(unguarded),
                                 tuple(costs), g.get("entry", "call"),
                                 g.get("entries"), g["processes"],
                                 g.get("runtime") or "python"))  # fmt: skip
    return sorted(rows, key=_order)


_PATHS = {"raw": 0, "lean": 1, "stock": 2}
_ENTRIES = {name: i for i, name in enumerate(("call", *ACCESSORS))}


def _order(r: GuardCostRow) -> tuple[Any, ...]:
    """The call's rows first (by scenario), then each accessor in designs.ACCESSORS order."""
    return (_ENTRIES.get(r.entry, len(_ENTRIES)), r.scenario, _PATHS.get(r.call_path, 3),
            r.call_path, r.mode)  # fmt: skip
