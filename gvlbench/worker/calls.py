"""The child's side of `gvlbench calls`: every (call path, mode) of one call, interleaved.

See harness/calls.py for why the paths are timed in rotating batches within one process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gvlbench.binding.embed import make_embeddings
from gvlbench.binding.invoke import CallPath, Mode, use_stock_mode
from gvlbench.binding.measure import batch_ns, loops_for
from gvlbench.protocol import CallsTask

BATCH_S = 0.01


def measure(task: CallsTask) -> dict[str, Any]:
    """Every (path, mode)'s batches, interleaved in rotating order, in this one process."""
    target, paths, modes = task.target, task.paths, task.modes
    calls: dict[tuple[CallPath, Mode], Callable[[], Any]] = {}
    for path in paths:
        for mode in modes:
            (emb,) = make_embeddings(target, mode, path, 1)
            emb.checked_call()  # once, outside the timing: the expectation holds on this Store
            calls[(path, mode)] = emb.call

    def batch(key: tuple[CallPath, Mode], loops: int) -> float:
        if key[0] is CallPath.STOCK:
            use_stock_mode(key[1])  # wasmtime-py's binding is process-wide: point it each time
        return batch_ns(calls[key], loops)

    keys = list(calls)
    loops = {}
    for key in keys:
        if key[0] is CallPath.STOCK:
            use_stock_mode(key[1])
        loops[key] = loops_for(calls[key], BATCH_S)
        batch(key, loops[key])  # warm-up
    samples: dict[tuple[CallPath, Mode], list[float]] = {k: [] for k in keys}
    for r in range(task.rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            samples[key].append(batch(key, loops[key]))
    return {"series": [{"path": str(p), "mode": str(m), "loops": loops[(p, m)],
                        "ns": samples[(p, m)]} for p, m in keys]}  # fmt: skip
