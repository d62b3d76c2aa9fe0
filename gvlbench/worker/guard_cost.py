"""The child's side of `race --guard-cost`: paired, interleaved batches, plain and guarded.

See harness/guard_cost.py for why the cost is measured this way.
"""

from __future__ import annotations

from typing import Any

from gvlbench.binding.embed import make_embeddings
from gvlbench.binding.guard import StoreGuard, guarded
from gvlbench.binding.invoke import CallPath
from gvlbench.binding.measure import batch_ns, loops_for
from gvlbench.protocol import GuardCostTask

BATCH_S = 0.01


def measure(task: GuardCostTask) -> dict[str, Any]:
    """Paired, interleaved batches of the plain and the guarded call in this one process."""
    (emb,) = make_embeddings(task.target, task.mode, CallPath(task.call_path), 1)
    emb.checked_call()
    plain = emb.call
    wrapped = guarded(plain, StoreGuard("store-0"))
    loops = loops_for(plain, BATCH_S)
    batch_ns(wrapped, loops)  # warm-up of the wrapper
    unguarded, guarded_ns = [], []
    for r in range(task.rounds):
        if r % 2 == 0:
            unguarded.append(batch_ns(plain, loops))
            guarded_ns.append(batch_ns(wrapped, loops))
        else:
            guarded_ns.append(batch_ns(wrapped, loops))
            unguarded.append(batch_ns(plain, loops))
    return {"loops": loops, "unguarded_ns": unguarded, "guarded_ns": guarded_ns}
