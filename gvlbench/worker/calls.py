"""The child's side of `gvlbench calls`: every (call path, mode) of one call, interleaved.

See harness/calls.py for why the paths are timed in rotating batches within one process.
With `threads` T above 1, each (path, mode) is also timed as T threads calling at once, each
on its own Store, in the same rotation: its per-call time beside the one-thread batch's gives
the path's scaling, which shows whose Python code a lock serialises.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gvlbench.binding.embed import make_embeddings
from gvlbench.binding.invoke import CallPath, Mode, use_stock_mode
from gvlbench.binding.measure import ThreadTeam, batch_ns, loops_for
from gvlbench.protocol import CallsTask

BATCH_S = 0.01
Key = tuple[CallPath, Mode, int]  # path, mode, threads


def measure(task: CallsTask) -> dict[str, Any]:
    """Every (path, mode[, threads])'s batches, interleaved in rotating order, in this one
    process. A team's value is the wall per call of each thread, in ns."""
    target, paths, modes = task.target, task.paths, task.modes
    counts = (1, task.threads) if task.threads > 1 else (1,)
    calls: dict[Key, Callable[[], Any]] = {}
    teams: dict[Key, ThreadTeam] = {}
    for path in paths:
        for mode in modes:
            for t in counts:
                embs = make_embeddings(target, mode, path, t)
                for emb in embs:  # outside the timing: the expectation holds on this Store
                    emb.checked_call()
                if t == 1:
                    calls[(path, mode, t)] = embs[0].call
                else:
                    teams[(path, mode, t)] = ThreadTeam([e.call for e in embs])

    def batch(key: Key, loops: int) -> float:
        if key[0] is CallPath.STOCK:
            use_stock_mode(key[1])  # wasmtime-py's binding is process-wide: point it each time
        if key[2] == 1:
            return batch_ns(calls[key], loops)
        return teams[key].run(loops) / loops * 1e9

    keys = sorted([*calls, *teams], key=lambda k: (paths.index(k[0]), modes.index(k[1]), k[2]))
    loops = {}
    for key in keys:
        one = (key[0], key[1], 1)
        if key[0] is CallPath.STOCK:
            use_stock_mode(key[1])
        loops[key] = loops[one] if one in loops else loops_for(calls[one], BATCH_S)
        batch(key, loops[key])  # warm-up
    samples: dict[Key, list[float]] = {k: [] for k in keys}
    for r in range(task.rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            samples[key].append(batch(key, loops[key]))
    for team in teams.values():
        team.close()
    return {"series": [{"path": str(p), "mode": str(m), "threads": t, "loops": loops[(p, m, t)],
                        "ns": samples[(p, m, t)]} for p, m, t in keys]}  # fmt: skip
