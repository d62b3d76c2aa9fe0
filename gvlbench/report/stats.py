"""Derived figures: speedup rows and progress rows, computed from a Results document.

Timing statistics come from pyperf's own Benchmark object (median, median absolute
deviation), so they match what `python -m pyperf stats` says about the same file. Ratios are
formed only between rows of the same run and file: on a noisy box a lone time means little.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyperf


from gvlbench.modes import CONTROL, of_row
from gvlbench.report import paired as paired_stats
from gvlbench.results import Results

# Two-sided 95% critical values of Student's t by degrees of freedom (index = df), the same
# table pyperf uses (vendored: pyperf keeps it private), then its coarse steps beyond 30.
_T95 = (0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip
_T95_STEPS = ((200, 1.960), (100, 1.984), (80, 1.990), (60, 2.000), (50, 2.009), (40, 2.021))


def tdist95conf_level(df: float) -> float:
    """The 95% two-sided critical value of Student's t for `df` degrees of freedom."""
    df = round(df)
    for at_least, value in _T95_STEPS:
        if df >= at_least:
            return value
    return _T95[min(df, len(_T95) - 1)]


@dataclass(frozen=True)
class SpeedupRow:
    scenario: str
    mode: str
    threads: int
    status: str  # ok, or how the child ended
    wall_median_s: float | None = None
    wall_mad_s: float | None = None
    values: int = 0
    calls_per_s: float | None = None
    speedup: float | None = None
    efficiency: float | None = None
    interpreter: str = ""  # set when the children ran under another runtime (--python, --runtime)
    call_path: str = ""
    name: str = ""  # the pyperf benchmark's name, for matching rows across files
    patches: str = ""  # binding patches the child applied, joined with "+"
    # the paired speedup's 95% interval and its rounds (report/paired.py); None: the speedup
    # was formed from two benchmarks measured apart (the Ruby worker), with no interval
    ci_low: float | None = None
    ci_high: float | None = None
    rounds: int = 0
    best: float | None = None  # the ratio of the fastest rounds: the least disturbed
    # "": a result; "impossible": the interval lies above min(threads, cores), a measurement
    # error; "noisy": the interval is wider than the precision asked for (paired_stats.PRECISION)
    flag: str = ""


@dataclass(frozen=True)
class ProgressRow:
    scenario: str
    mode: str
    status: str
    via: str = ""
    ratio_median: float | None = None
    ratio_min: float | None = None
    ratio_max: float | None = None
    call_median_s: float | None = None
    samples: int = 0
    interpreter: str = ""
    overlap_median: float | None = None  # how much `overlap_threads` calls at once overlapped
    overlap_threads: int = 0
    # expect.raises: calls that met the known defect exceptions-concurrent, of those checked
    misrouted: int = 0
    checked_calls: int = 0
    patches: str = ""
    # each sample pairs the rate during a call with the rate just before it: the median's 95%
    # interval over those pairs (report/paired.py)
    ratio_ci_low: float | None = None
    ratio_ci_high: float | None = None
    # the control in the same rounds as the overlap (binding/control.py): how far as many
    # threads of pure Wasm, needing no lock, overlapped; and what the machine gave the child
    control_median: float | None = None
    machine: dict[str, Any] | None = None


def pyperf_benchmark(bench: dict[str, Any]) -> pyperf.Benchmark:
    import pyperf  # 100 ms to import (its hooks load importlib.metadata): only when reading

    suite = pyperf.BenchmarkSuite.loads(json.dumps({"version": "1.0", "benchmarks": [bench]}))
    return suite.get_benchmarks()[0]


def speedup_rows(results: Results) -> list[SpeedupRow]:
    """One row per (scenario, interpreter, call path, mode, threads), failures included;
    speedup is against 1 thread of the same everything else."""
    cpus = int(results.metadata.get("usable_cpus") or 1)
    measured: dict[tuple[str, str, str, str, str, int], pyperf.Benchmark] = {}
    for bench in results.benchmarks:
        md = bench["metadata"]
        key = (md["scenario"], md.get("interpreter", ""), md.get("call_path", ""),
               md.get("patches", ""), of_row(md), int(md["threads"]))  # fmt: skip
        measured[key] = pyperf_benchmark(bench)
    rows = [
        SpeedupRow(f["scenario"], of_row(f), int(f["threads"]), f["description"],
                   interpreter=f.get("interpreter", ""), call_path=f.get("call_path", ""),
                   patches=f.get("patches", ""))
        for f in results.failures
        if f.get("kind") == "bench"
    ]  # fmt: skip
    paired = paired_speedups(results)
    for (scenario, interp, path, patches, mode, threads), b in measured.items():
        wall = b.median()
        one = measured.get((scenario, interp, path, patches, mode, 1))
        speedup = threads * one.median() / wall if one else None
        found = paired.get((scenario, interp, path, patches, mode, threads))
        interval, best = found if found else (None, None)
        if interval is not None:
            speedup = interval.median
        rows.append(
            SpeedupRow(
                scenario,
                mode,
                threads,
                "ok",
                wall,
                b.median_abs_dev(),
                b.get_nvalue(),
                calls_per_s=threads / wall,
                speedup=speedup,
                efficiency=speedup / min(threads, cpus) if speedup else None,
                interpreter=interp,
                call_path=path,
                name=b.get_name(),
                patches=patches,
                **_interval_fields(interval, threads, cpus),
                best=best,
            )
        )
    return sorted(rows, key=lambda r: (r.scenario, r.interpreter, r.call_path, r.patches, r.mode,
                                       r.threads))  # fmt: skip


PairedKey = tuple[str, str, str, str, str, int]  # scenario, interpreter, path, patches, mode, T


def paired_speedups(results: Results) -> dict[PairedKey, tuple[paired_stats.Interval, float]]:
    """Each paired cell's speedup against its own 1-thread cell: the ratio of the fastest
    rounds with its interval, and the median per-round ratio (what the box delivered); see
    paired_stats.best_ratio_interval. A 1-thread cell is 1.0 by construction, with no interval."""
    out: dict[PairedKey, tuple[paired_stats.Interval, float]] = {}
    for row in results.speedup:
        cells = row["cells"]  # (mode, threads) -> seconds per round
        for (mode, threads), seconds in cells.items():
            one = cells.get((mode, 1))
            if one is None or threads == 1:
                continue
            best = paired_stats.best_ratio_interval(one, seconds, threads)
            median = paired_stats.median_interval(paired_stats.round_ratios(one, seconds, threads))
            if best is not None and median is not None:
                mode_shown = mode if mode == CONTROL else of_row({**row, "mode": str(mode)})
                key = (row["scenario"], row.get("interpreter", ""), row["call_path"],
                       row.get("patches", ""), mode_shown, threads)  # fmt: skip
                out[key] = (median, best.median)
    return out


def _interval_fields(
    interval: paired_stats.Interval | None, threads: int, cpus: int
) -> dict[str, Any]:
    if interval is None:
        return {}
    flag = ""
    if paired_stats.impossible(interval, threads, cpus):
        flag = "impossible"
    elif interval.half_width > paired_stats.PRECISION:
        flag = "noisy"
    return {"ci_low": interval.low, "ci_high": interval.high, "rounds": interval.n, "flag": flag}


@dataclass(frozen=True)
class PatchCostRow:
    """What a binding patch costs: its wall time over the unpatched one, same everything else,
    from one run (the steps interleave, so a slow phase of the box hits both)."""

    scenario: str
    patches: str
    mode: str
    threads: int
    plain_s: float
    patched_s: float

    @property
    def ratio(self) -> float:
        return self.patched_s / self.plain_s


def patch_cost_rows(rows: list[SpeedupRow]) -> list[PatchCostRow]:
    plain = {(r.scenario, r.interpreter, r.call_path, r.mode, r.threads): r for r in rows
             if not r.patches and r.wall_median_s}  # fmt: skip
    out = []
    for r in rows:
        base = plain.get((r.scenario, r.interpreter, r.call_path, r.mode, r.threads))
        if r.patches and r.wall_median_s and base is not None and base.wall_median_s:
            out.append(PatchCostRow(r.scenario, r.patches, r.mode, r.threads,
                                    base.wall_median_s, r.wall_median_s))  # fmt: skip
    return out


def progress_rows(results: Results) -> list[ProgressRow]:
    rows = [
        ProgressRow(f["scenario"], of_row(f), f["description"],
                    interpreter=f.get("interpreter", ""), patches=f.get("patches", ""))
        for f in results.failures
        if f.get("kind") == "progress"
    ]  # fmt: skip
    for p in results.progress:
        ratios = [s["ratio"] for s in p["samples"]]
        calls = [s["call_s"] for s in p["samples"]]
        if not ratios:
            continue
        ci = paired_stats.median_interval(ratios)
        rows.append(
            ProgressRow(
                p["scenario"],
                of_row(p),
                "ok",
                p["via"],
                statistics.median(ratios),
                min(ratios),
                max(ratios),
                statistics.median(calls),
                len(ratios),
                p.get("interpreter", ""),
                statistics.median(p["overlap"]) if p.get("overlap") else None,
                int(p.get("overlap_threads") or 0),
                sum((p.get("misrouted") or {}).values()),
                int(p.get("checked_calls") or 0),
                p.get("patches", ""),
                ci.low if ci else None,
                ci.high if ci else None,
                statistics.median(p["control_overlap"]) if p.get("control_overlap") else None,
                p.get("machine"),
            )
        )
    return sorted(rows, key=lambda r: (r.scenario, r.interpreter, r.patches, r.mode))
