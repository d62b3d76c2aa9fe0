"""`gvlbench compare`: two results files, row by row, with a significance verdict.

Rows are matched by benchmark name (scenario/mode/threads[/guard]). Each gets its change in
wall time and a verdict from Welch's t-test at 95% (pyperf's own t table): `faster`,
`slower`, `same` (not significant), or `unsure` (fewer than 3 values on a side: too few to
tell). pyperf's `compare_to` uses Student's test, which needs equal sample counts; Welch's
does not. The derived ratios (speedup, efficiency, progress) are shown side by side, as they
are what a maintainer reads: each is formed within one file, so both sides are comparable.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from gvlbench.report.stats import (
    progress_rows,
    pyperf_benchmark,
    speedup_rows,
    tdist95conf_level,
)
from gvlbench.results import Results

MIN_VALUES = 3


@dataclass(frozen=True)
class CompareRow:
    name: str
    base_s: float | None
    current_s: float | None
    change: float | None  # current / base - 1
    verdict: str  # faster | slower | same | unsure | missing
    base_speedup: float | None = None
    current_speedup: float | None = None
    base_efficiency: float | None = None
    current_efficiency: float | None = None


@dataclass(frozen=True)
class ProgressCompareRow:
    scenario: str
    mode: str
    base: float | None
    current: float | None
    interpreter: str = ""  # the runtime's label, when the files have that axis


def welch(a: list[float], b: list[float]) -> str:
    """'faster' or 'slower' (b against a) when significant at 95%, 'same', or 'unsure'."""
    if len(a) < MIN_VALUES or len(b) < MIN_VALUES:
        return "unsure"
    ma, mb = statistics.fmean(a), statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return "same" if ma == mb else ("faster" if mb < ma else "slower")
    t = (mb - ma) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    if abs(t) < tdist95conf_level(max(1, df)):
        return "same"
    return "faster" if t < 0 else "slower"


def compare(base: Results, current: Results) -> tuple[list[CompareRow], list[ProgressCompareRow]]:
    def by_name(res: Results) -> dict[str, list[float]]:
        return {b["metadata"]["name"]: pyperf_benchmark(b).get_values() for b in res.benchmarks}

    def derived(res: Results) -> dict[str, tuple[float | None, float | None]]:
        out = {}
        for r in speedup_rows(res):
            if r.status == "ok":
                out[r.name] = (r.speedup, r.efficiency)
        return out

    b_vals, c_vals = by_name(base), by_name(current)
    b_der, c_der = derived(base), derived(current)
    rows = []
    for name in sorted(set(b_vals) | set(c_vals)):
        a, b = b_vals.get(name), c_vals.get(name)
        bs, be = b_der.get(name, (None, None))
        cs, ce = c_der.get(name, (None, None))
        if a is None or b is None:
            rows.append(CompareRow(name, _med(a), _med(b), None, "missing", bs, cs, be, ce))
            continue
        change = statistics.median(b) / statistics.median(a) - 1
        rows.append(CompareRow(name, _med(a), _med(b), change, welch(a, b), bs, cs, be, ce))
    bp = {(p.scenario, p.interpreter, p.mode): p.ratio_median for p in progress_rows(base)}
    cp = {(p.scenario, p.interpreter, p.mode): p.ratio_median for p in progress_rows(current)}
    progress = [ProgressCompareRow(s, m, bp.get((s, i, m)), cp.get((s, i, m)), i)
                for s, i, m in sorted(set(bp) | set(cp))]  # fmt: skip
    return rows, progress


def _med(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None
