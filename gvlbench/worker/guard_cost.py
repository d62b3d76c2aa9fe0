"""The child's side of `race --guard-cost`: paired, interleaved batches, unguarded and guarded.

See harness/guard_cost.py for why the cost is measured this way. The stock path's binding of
wasmtime_func_call is process-wide, so each batch first points it where its variant needs it
(the library's function, or the native guard's); that is outside the timed batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gvlbench.binding.embed import Embedding, check_outcome, make_embeddings
from gvlbench.binding.guard import StoreGuard, guarded
from gvlbench.binding.invoke import CallPath, use_stock_mode
from gvlbench.binding.measure import batch_ns, loops_for
from gvlbench.protocol import GuardCostTask

BATCH_S = 0.01

# a variant: (what to do before its batch, the call it times)
Variant = tuple[Callable[[], None], Callable[[], Any]]


def measure(task: GuardCostTask) -> dict[str, Any]:
    """Paired, interleaved batches of the unguarded call and of each guarded one."""
    path = CallPath(task.call_path)
    (emb,) = make_embeddings(task.target, task.mode, path, 1)
    emb.checked_call()
    variants = _variants(emb, task, path)
    setup, plain = variants["unguarded"]
    setup()
    loops = loops_for(plain, BATCH_S)
    for setup, call in variants.values():  # warm-up, and each guarded call still answers right
        setup()
        if path.checks_results:
            check_outcome(task.target, call)
        batch_ns(call, loops)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for r in range(task.rounds):
        for name in order if r % 2 == 0 else reversed(order):
            setup, call = variants[name]
            setup()
            samples[name].append(batch_ns(call, loops))
    unguarded = samples.pop("unguarded")
    return {"loops": loops, "unguarded_ns": unguarded, "guarded_ns": samples}


def _variants(emb: Embedding, task: GuardCostTask, path: CallPath) -> dict[str, Variant]:
    def stock_binding() -> None:
        if path is CallPath.STOCK:
            use_stock_mode(task.mode)

    variants: dict[str, Variant] = {"unguarded": (stock_binding, emb.call)}
    if "python" in task.guards:
        variants["python"] = (stock_binding, guarded(emb.call, StoreGuard("store-0")))
    if "native" in task.guards:
        from gvlbench.binding import native_guard

        native_guard.NativeStoreGuard(emb.store, "store-0")
        call = native_guard.prepare(emb.store, emb.func, task.target.args, task.mode, path)

        def native_binding() -> None:
            if path is CallPath.STOCK:
                native_guard.use_stock(task.mode)

        variants["native"] = (native_binding, call)
    return variants
