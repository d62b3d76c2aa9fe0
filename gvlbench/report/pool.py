"""Threads or processes: one row per (scenario, interpreter, executor, workers)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from gvlbench.protocol import EXECUTORS


@dataclass(frozen=True)
class PoolRow:
    scenario: str
    executor: str
    workers: int
    status: str
    wall_median_s: float | None = None
    wall_min_s: float | None = None
    wall_max_s: float | None = None
    calls_per_s: float | None = None
    speedup: float | None = None  # vs one thread
    peak_rss_mib: float | None = None
    interpreter: str = ""


def merged_pool(res: Any) -> list[dict[str, Any]]:
    """Pool entries of one (scenario, interpreter, executor, workers) merged: their jobs'
    walls together, the highest peak RSS."""
    merged: dict[tuple[str, str, str, int], dict[str, Any]] = {}
    for p in res.pool:
        key = (p["scenario"], p.get("interpreter", ""), p["executor"], int(p["threads"]))
        if key not in merged:
            merged[key] = {**p, "wall_s": list(p["wall_s"])}
        else:
            merged[key]["wall_s"] += p["wall_s"]
            merged[key]["peak_rss_kib"] = max(merged[key]["peak_rss_kib"], p["peak_rss_kib"])
    return list(merged.values())


def pool_rows(res: Any) -> list[PoolRow]:
    """One row per (scenario, interpreter, executor, workers); speedup against one worker
    thread of the same scenario and interpreter (the sequential job)."""
    failed = {(f["scenario"], f.get("interpreter", ""), f.get("executor", "?"), int(f["threads"])):
              f["description"] for f in res.failures if f.get("kind") == "pool"}  # fmt: skip
    rows = [PoolRow(s, e, t, why, interpreter=i) for (s, i, e, t), why in failed.items()]
    pool = merged_pool(res)
    one = {
        (p["scenario"], p.get("interpreter", "")): statistics.median(p["wall_s"])
        for p in pool
        if p["executor"] == "threads" and int(p["threads"]) == 1
    }
    for p in pool:
        wall = statistics.median(p["wall_s"])
        base = one.get((p["scenario"], p.get("interpreter", "")))
        rows.append(
            PoolRow(
                p["scenario"], p["executor"], int(p["threads"]), "ok", wall,
                min(p["wall_s"]), max(p["wall_s"]), p["calls"] / wall,
                base / wall if base else None, p["peak_rss_kib"] / 1024,
                p.get("interpreter", ""),
            )
        )  # fmt: skip
    order = {e: i for i, e in enumerate(EXECUTORS)}
    return sorted(rows, key=lambda r: (r.scenario, r.interpreter, r.workers, order[r.executor]))
