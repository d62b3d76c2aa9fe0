"""What one call costs along each call path: rows and the two verdicts of `gvlbench calls`."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from gvlbench.modes import Mode, of_row
from gvlbench.protocol import CallPath
from gvlbench.results import Results

PATHS = (CallPath.FLOOR, CallPath.RAW, CallPath.LEAN, CallPath.STOCK)
# the bar for the lean path: within this factor of raw ...
LEAN_OVER_RAW_MAX = 1.3
# ... and at least this many times faster than Func.__call__
STOCK_OVER_LEAN_MIN = 5.0


@dataclass(frozen=True)
class CallRow:
    scenario: str
    path: str
    mode: str
    status: str
    median_s: float | None = None
    mad_s: float | None = None
    values: int = 0
    over_raw: float | None = None  # median of per-round ratios: this path / raw
    over_lean: float | None = None  # median of per-round ratios: this path / lean
    over_held: float | None = None  # median of per-round ratios: this mode / held, same path
    # T threads at once, each on its own Store: per call of each thread, and the scaling
    # T * t(1) / t(T) (median of per-round ratios; T at most: all in parallel, 1: serialised)
    team: int = 1
    team_s: float | None = None
    scaling: float | None = None


def _values(bench: dict[str, Any]) -> list[float]:
    return [v for run in bench["runs"] for v in run.get("values", [])]


def _paired(a: list[float], b: list[float] | None) -> float | None:
    if not b or len(a) != len(b):
        return None
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def call_rows(res: Results) -> list[CallRow]:
    """One row per (scenario, path, mode), failures included, in PATHS order; a team of
    threads, where one was timed, is in the row's team columns."""
    values: dict[tuple[str, str, str], list[float]] = {}
    teams: dict[tuple[str, str, str], tuple[int, list[float]]] = {}
    for bench in res.benchmarks:
        md = bench["metadata"]
        key = (md["scenario"], md["call_path"], of_row(md))
        if int(md.get("threads", 1)) > 1:
            teams[key] = (int(md["threads"]), _values(bench))
        else:
            values[key] = _values(bench)
    rows = [
        CallRow(f["scenario"], str(p), of_row(f), f["description"])
        for f in res.failures
        if f.get("kind") == "calls"
        for p in PATHS
    ]
    for (scen, path, mode), vals in values.items():
        med = statistics.median(vals)
        mad = statistics.median(abs(v - med) for v in vals)
        raw = values.get((scen, str(CallPath.RAW), mode))
        lean = values.get((scen, str(CallPath.LEAN), mode))
        held = values.get((scen, path, str(Mode.HELD)))
        team, team_vals = teams.get((scen, path, mode), (1, []))
        scaling = _paired([team * v for v in vals], team_vals) if team_vals else None
        rows.append(CallRow(scen, path, mode, "ok", med, mad, len(vals), _paired(vals, raw),
                            _paired(vals, lean), _paired(vals, held), team,
                            statistics.median(team_vals) if team_vals else None,
                            scaling))  # fmt: skip
    order = {str(p): i for i, p in enumerate(PATHS)}
    return sorted(rows, key=lambda r: (r.scenario, order.get(r.path, 99), r.mode))


@dataclass(frozen=True)
class CallsVerdict:
    """The issue's two bars, over every scenario and mode measured (worst case)."""

    lean_over_raw: float | None
    stock_over_lean: float | None

    @property
    def lean_ok(self) -> bool:
        return self.lean_over_raw is not None and self.lean_over_raw <= LEAN_OVER_RAW_MAX

    @property
    def stock_ok(self) -> bool:
        return self.stock_over_lean is not None and self.stock_over_lean >= STOCK_OVER_LEAN_MIN


def verdict(rows: list[CallRow]) -> CallsVerdict:
    """Worst lean/raw and worst (smallest) stock/lean over every scenario and mode."""
    ok = [r for r in rows if r.status == "ok"]
    lean = [r.over_raw for r in ok if r.path == CallPath.LEAN and r.over_raw is not None]
    stock = [r.over_lean for r in ok if r.path == CallPath.STOCK and r.over_lean is not None]
    return CallsVerdict(max(lean) if lean else None, min(stock) if stock else None)
