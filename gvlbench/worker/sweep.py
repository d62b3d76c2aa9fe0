"""The child's side of `gvlbench sweep`: one work size, two cells in alternating rounds.

With a GIL the cells are T threads held and T threads released; on a free-threaded build
(modes: free-threaded alone) they are 1 thread and T threads, so the point reports how the
work scales when nothing serialises it. See harness/sweep.py for why the cells are paired
within rounds.
"""

from __future__ import annotations

from typing import Any

from gvlbench.binding.embed import make_embeddings
from gvlbench.binding.invoke import CallPath, Mode, use_stock_mode
from gvlbench.binding.measure import ThreadTeam, batch_ns
from gvlbench.modes import cell_key
from gvlbench.protocol import SweepPointTask

BATCH_S = 0.01


def cells_of(task: SweepPointTask) -> tuple[tuple[Mode, int], tuple[Mode, int]]:
    """The (mode, threads) pair a point compares: serial first, then parallel."""
    if tuple(task.modes) == (Mode.FREE_THREADED,):
        return (Mode.FREE_THREADED, 1), (Mode.FREE_THREADED, task.threads)
    return (Mode.HELD, task.threads), (Mode.RELEASED, task.threads)


def measure_point(task: SweepPointTask) -> dict[str, Any]:
    """Alternating rounds of both cells, plus one lean call alone per round."""
    target, path = task.target, task.call_path
    cells = cells_of(task)
    teams = {}
    for mode, threads in cells:
        embs = make_embeddings(target, mode, path, threads)
        for emb in embs:
            emb.checked_call()
        teams[mode, threads] = ThreadTeam([e.checked_call for e in embs])
    (alone,) = make_embeddings(target, cells[1][0], CallPath.LEAN, 1)
    alone.checked_call()

    def timed(cell: tuple[Mode, int], loops: int) -> float:
        if path is CallPath.STOCK:
            use_stock_mode(cell[0])  # wasmtime-py's binding is process-wide: point it each time
        return teams[cell].run(loops) / loops

    loops = 1
    while timed(cells[1], loops) * loops < BATCH_S:
        loops *= 2
    alone_loops = max(1, loops // 2)
    series: dict[tuple[Mode, int], list[float]] = {cell: [] for cell in cells}
    solo = []
    for r in range(task.rounds):
        for cell in cells if r % 2 == 0 else cells[::-1]:
            series[cell].append(timed(cell, loops))
        solo.append(batch_ns(alone.call, alone_loops) * 1e-9)
    for team in teams.values():
        team.close()
    return {"loops": loops, "cells": {cell_key(m, t): v for (m, t), v in series.items()},
            "alone_s": solo}  # fmt: skip
