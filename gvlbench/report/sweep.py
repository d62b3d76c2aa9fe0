"""Sweep points judged: the gain of releasing at each work size, and the crossover."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from gvlbench.modes import Mode, of_row
from gvlbench.protocol import CallPath
from gvlbench.report.stats import tdist95conf_level
from gvlbench.results import Results

_Cell = tuple[str, int]  # a row's mode as of_row shows it (a mode), and its thread count


@dataclass(frozen=True)
class SweepRow:
    path: str
    size: int
    wasm_s: float | None  # one lean call alone at this size (median): its Wasm time
    # median wall of a round, per call of each thread. serial: T threads held, or (free-threaded)
    # one thread's time times T, what one thread would take for every thread's calls
    serial_s: float | None
    parallel_s: float | None  # T threads released, or free-threaded
    gain: float | None  # median of per-round serial / parallel
    verdict: str  # faster | same | slower | unsure | failed
    pays: bool
    mode: str = "released"  # the parallel cell's mode: released | free-threaded


def _values(bench: dict[str, Any]) -> list[float]:
    return [v for run in bench["runs"] for v in run.get("values", [])]


def paired_verdict(ratios: list[float]) -> str:
    """A one-sample t-test (95%) on log(ratio): `faster` when released is significantly
    faster (ratio > 1), `slower`, `same`, or `unsure` with fewer than 3 rounds."""
    if len(ratios) < 3:
        return "unsure"
    logs = [math.log(r) for r in ratios]
    mean, sd = statistics.fmean(logs), statistics.stdev(logs)
    if sd == 0:
        return "same" if mean == 0 else ("faster" if mean > 0 else "slower")
    t = mean / (sd / math.sqrt(len(logs)))
    if abs(t) < tdist95conf_level(len(logs) - 1):
        return "same"
    return "faster" if t > 0 else "slower"


def sweep_rows(res: Results) -> list[SweepRow]:
    min_gain = float(res.metadata.get("sweep_min_gain") or 0.0)
    threads = int(res.metadata.get("sweep_threads") or 2)
    series: dict[tuple[str, int, _Cell | None], list[float]] = {}  # cell None: one call alone
    for bench in res.benchmarks:
        md = bench["metadata"]
        cell = None if md.get("alone") else (of_row(md), int(md.get("threads", threads)))
        series[(md["call_path"], int(md["work_size"]), cell)] = _values(bench)
    rows = [SweepRow(f["call_path"], int(f["work_size"]), None, None, None, None, "failed",
                     False) for f in res.failures if f.get("kind") == "sweep-point"]  # fmt: skip
    for path, size in sorted({(p, s) for p, s, _ in series}):
        alone = series.get((path, size, None))
        wasm = statistics.median(alone) if alone else None
        mode, serial, parallel = _cells(series, path, size, threads)
        if not serial or not parallel or len(serial) != len(parallel):
            rows.append(SweepRow(path, size, wasm, None, None, None, "failed", False, mode))
            continue
        ratios = [h / r for h, r in zip(serial, parallel, strict=True)]
        gain, verdict = statistics.median(ratios), paired_verdict(ratios)
        pays = verdict == "faster" and gain >= 1 + min_gain
        rows.append(SweepRow(path, size, wasm, statistics.median(serial),
                             statistics.median(parallel), gain, verdict, pays, mode))  # fmt: skip
    order = {str(p): i for i, p in enumerate(CallPath)}
    return sorted(rows, key=lambda r: (order.get(r.path, 99), r.size))


def _cells(series: dict[tuple[str, int, _Cell | None], list[float]], path: str, size: int,
           threads: int) -> tuple[str, list[float] | None, list[float] | None]:  # fmt: skip
    """A point's mode and its serial and parallel series: held and released at T threads,
    or free-threaded at one thread (scaled by T) and at T threads."""
    one = series.get((path, size, (Mode.FREE_THREADED, 1)))
    if one is not None:
        parallel = series.get((path, size, (Mode.FREE_THREADED, threads)))
        return str(Mode.FREE_THREADED), [threads * v for v in one], parallel
    held = series.get((path, size, (Mode.HELD, threads)))
    return str(Mode.RELEASED), held, series.get((path, size, (Mode.RELEASED, threads)))


def crossover(rows: list[SweepRow], path: str) -> SweepRow | None:
    """The smallest size that pays with every larger size paying too; None if none does."""
    mine = sorted((r for r in rows if r.path == path), key=lambda r: r.size)
    found = None
    for r in reversed(mine):
        if not r.pays:
            break
        found = r
    return found


def paths_in(rows: list[SweepRow]) -> list[str]:
    order = {str(p): i for i, p in enumerate(CallPath)}
    return sorted({r.path for r in rows}, key=lambda p: order.get(p, 99))
