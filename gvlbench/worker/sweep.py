"""The child's side of `gvlbench sweep`: one work size, held and released in alternating rounds.

See harness/sweep.py for why the two modes are paired within rounds.
"""

from __future__ import annotations

from typing import Any

from gvlbench.binding.embed import make_embeddings
from gvlbench.binding.invoke import CallPath, Mode, use_stock_mode
from gvlbench.binding.measure import ThreadTeam, batch_ns
from gvlbench.protocol import SweepPointTask

MODES = (Mode.HELD, Mode.RELEASED)
BATCH_S = 0.01


def measure_point(task: SweepPointTask) -> dict[str, Any]:
    """Alternating rounds of T threads held and T threads released, plus one lean call alone."""
    target, path, threads = task.target, task.call_path, task.threads
    teams = {}
    for mode in MODES:
        embs = make_embeddings(target, mode, path, threads)
        for emb in embs:
            emb.checked_call()
        teams[mode] = ThreadTeam([e.checked_call for e in embs])
    (alone,) = make_embeddings(target, Mode.RELEASED, CallPath.LEAN, 1)
    alone.checked_call()

    def timed(mode: Mode, loops: int) -> float:
        if path is CallPath.STOCK:
            use_stock_mode(mode)  # wasmtime-py's binding is process-wide: point it each time
        return teams[mode].run(loops) / loops

    loops = 1
    while timed(Mode.RELEASED, loops) * loops < BATCH_S:
        loops *= 2
    alone_loops = max(1, loops // 2)
    held, released, solo = [], [], []
    for r in range(task.rounds):
        for mode in MODES if r % 2 == 0 else MODES[::-1]:
            (held if mode is Mode.HELD else released).append(timed(mode, loops))
        solo.append(batch_ns(alone.call, alone_loops) * 1e-9)
    for team in teams.values():
        team.close()
    return {"loops": loops, "held_s": held, "released_s": released, "alone_s": solo}
