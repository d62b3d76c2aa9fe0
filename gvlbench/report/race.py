"""Race trials summarised: one row per configuration, and the `--expect` verdict."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RaceRow:
    config: str
    trials: int
    crashed: int
    raised: int
    hung: int
    survived: int
    failed: int
    crash_rate: float
    crash_median_s: float | None
    crash_max_s: float | None
    signatures: dict[str, int] = field(default_factory=dict)
    exceptions: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    calls: int = 0
    wrong: int = 0  # trials whose threads got a result that differs from the reference
    wrong_results: int = 0  # such results, over every trial
    wrong_example: str | None = None
    compared: bool | None = None  # a code target's results were compared (None: no code)
    intruder_ops: int | None = None  # an entry race: what its intruders got done (None: not one)


def signature(trial: dict[str, Any]) -> str | None:
    """'SIGABRT stackwalk.rs:234' for a crash, None otherwise."""
    if trial["trial_status"] != "crashed":
        return None
    return f"{trial['signal']} {trial['panic']}" if trial.get("panic") else trial["signal"]


def summarize(trials: list[dict[str, Any]]) -> list[RaceRow]:
    """One row per configuration, in the order first seen."""
    by_config: dict[str, list[dict[str, Any]]] = {}
    for t in trials:
        by_config.setdefault(t["config"], []).append(t)
    rows = []
    for config, group in by_config.items():
        status = Counter(t["trial_status"] for t in group)
        crash_times = [t["after_start_s"] or t["duration_s"] for t in group
                       if t["trial_status"] == "crashed"]  # fmt: skip
        exceptions: Counter = Counter()
        for t in group:
            exceptions.update(t["exceptions"])
        stuck = status["hung"] + status["deadlocked"]  # a deadlock is a hang found early
        rows.append(RaceRow(
            config, len(group), status["crashed"], status["raised"], stuck,
            status["survived"], status["failed"], status["crashed"] / len(group),
            statistics.median(crash_times) if crash_times else None,
            max(crash_times) if crash_times else None,
            dict(Counter(s for t in group if (s := signature(t)))), dict(exceptions),
            sum(t["refused"] for t in group), sum(t["calls"] for t in group),
            status["wrong"], sum(t.get("wrong") or 0 for t in group),
            next((t["wrong_example"] for t in group if t.get("wrong_example")), None),
            _compared(group), _intruder_ops(group),
        ))  # fmt: skip
    return rows


def _intruder_ops(group: list[dict[str, Any]]) -> int | None:
    """An entry race's intruder operations over its trials (None for any other race)."""
    seen = [t["intruder_ops"] for t in group if "intruder_ops" in t]
    return sum(seen) if seen else None


def _compared(group: list[dict[str, Any]]) -> bool | None:
    seen = [t["compared"] for t in group if "compared" in t]
    return all(seen) if seen else None


def check_expectation(rows: list[RaceRow], expect: str) -> list[str]:
    """Problems with `--expect`: 'crash' wants every configuration to crash at least once
    (the hazard still reproduces); 'safe' wants no crash, hang, failure or wrong result
    anywhere."""
    problems = []
    for r in rows:
        if expect == "crash" and r.crashed == 0:
            problems.append(f"{r.config}: expected a crash, {r.trials} trial(s) did not crash")
        if expect == "safe" and (r.crashed or r.hung or r.failed or r.wrong):
            problems.append(
                f"{r.config}: expected safe, got {r.crashed} crashed, {r.hung} hung, "
                f"{r.failed} failed" + (f", {r.wrong} wrong" if r.wrong else "") + f" of {r.trials}"
            )
    return problems
