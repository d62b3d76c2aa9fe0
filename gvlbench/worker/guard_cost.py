"""The child's side of `race --guard-cost`: paired, interleaved batches, unguarded and guarded.

See harness/guard_cost.py for why the cost is measured this way. One Store is priced under
every design in turn: the native designs share one guard whose design is changed before each
batch (`redesign`), so every native batch finds its guard in the same slot of the shim's
table. The stock path's bindings are process-wide, so each batch first points them where
its variant needs them (the library's functions, or the shim's); all of that is outside the
timed batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gvlbench.binding import entries
from gvlbench.binding.embed import check_outcome, make_embeddings
from gvlbench.binding.guard import StoreGuard, guarded
from gvlbench.binding.invoke import CallPath, Mode, use_stock_mode
from gvlbench.binding.measure import batch_ns, loops_for
from gvlbench.designs import NATIVE
from gvlbench.protocol import GuardCostTask

BATCH_S = 0.01
CODE_BATCH_S = 0.05  # a statement (a whole quickjs-rs eval, say) is microseconds to milliseconds

# a variant: (what to do before its batch, the operation it times)
Variant = tuple[Callable[[], None], Callable[[], Any]]


def measure(task: GuardCostTask) -> dict[str, Any]:
    """Paired, interleaved batches of the unguarded operation and of each guarded one."""
    extra: dict[str, Any] = {}
    if task.code is not None:
        variants = _code_variants(task, extra)
    elif task.entry == "call":
        variants = _call_variants(task)
    else:
        variants = _accessor_variants(task)
    setup, plain = variants["unguarded"]
    setup()
    loops = loops_for(plain, CODE_BATCH_S if task.code is not None else BATCH_S)
    for setup, call in variants.values():  # warm-up
        setup()
        batch_ns(call, loops)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for r in range(task.rounds):
        for name in order if r % 2 == 0 else reversed(order):
            setup, call = variants[name]
            setup()
            samples[name].append(batch_ns(call, loops))
    unguarded = samples.pop("unguarded")
    return {"loops": loops, "unguarded_ns": unguarded, "guarded_ns": samples, **extra}


def _stock_setup(path: CallPath, mode: Mode, designs: tuple[str, ...]) -> Callable[[], None]:
    """Before an unguarded (or Python-guarded) batch: wasmtime-py's own bindings."""

    def setup() -> None:
        if path is not CallPath.STOCK:
            return
        if any(d in NATIVE for d in designs):
            from gvlbench.binding import native_stock

            native_stock.restore_stock()
        use_stock_mode(mode)

    return setup


def _native_setup(guard: Any, design: str, path: CallPath, mode: Mode) -> Callable[[], None]:
    """Before a native design's batch: its design on the Store's guard, and on the stock path
    every binding through the shim."""
    from gvlbench.binding import native_stock

    def setup() -> None:
        guard.redesign(design)
        if path is CallPath.STOCK:
            native_stock.use_stock(mode)

    return setup


def _call_variants(task: GuardCostTask) -> dict[str, Variant]:
    path = CallPath(task.call_path)
    (emb,) = make_embeddings(task.target, task.mode, path, 1)
    emb.checked_call()
    plain_setup = _stock_setup(path, task.mode, task.guards)
    variants: dict[str, Variant] = {"unguarded": (plain_setup, emb.call)}
    if "python" in task.guards:
        variants["python"] = (plain_setup, guarded(emb.call, StoreGuard("store-0")))
    natives = [d for d in task.guards if d in NATIVE]
    if natives:
        from gvlbench.binding import native_guard, native_stock

        guard = native_guard.NativeStoreGuard(emb.store, "store-0")
        call = native_stock.prepare(emb.store, emb.func, task.target.args, task.mode, path)
        for design in natives:
            variants[design] = (_native_setup(guard, design, path, task.mode), call)
    for setup, call in variants.values():  # each guarded call still answers right
        setup()
        if path.checks_results:
            check_outcome(task.target, call)
    return variants


def _accessor_variants(task: GuardCostTask) -> dict[str, Variant]:
    path, kind = CallPath(task.call_path), task.entry
    es = entries.EntryStore.make(task.target.wasm_path)
    natives = [d for d in task.guards if d in NATIVE]
    if natives:
        from gvlbench.binding import native_guard

        plain_copy: Any = lambda name: native_guard.copy_function(name, guarded=False)  # noqa: E731
    else:
        plain_copy = None
    unguarded = entries.unguarded(task.mode, plain_copy)
    plain = (entries.stock(es, kind) if path is CallPath.STOCK
             else entries.prepared(es, kind, path, unguarded))  # fmt: skip
    plain_setup = _stock_setup(path, task.mode, task.guards)
    variants: dict[str, Variant] = {"unguarded": (plain_setup, plain)}
    if "python" in task.guards:
        variants["python"] = (plain_setup, guarded(plain, StoreGuard("store-0")))
    if natives:
        guard = native_guard.NativeStoreGuard(es.store, "store-0")
        op = (entries.stock(es, kind) if path is CallPath.STOCK
              else entries.prepared(es, kind, path, native_guard.functions(task.mode)))  # fmt: skip
        for design in natives:
            variants[design] = (_native_setup(guard, design, path, task.mode), op)
    plain_setup()
    expected = plain()
    for name, (setup, op) in variants.items():  # each guarded operation still answers right
        setup()
        got = op()
        if path is not CallPath.RAW and not _same(got, expected):
            raise AssertionError(f"{kind} through {name} gave {got!r}, unguarded {expected!r}")
    return variants


def _same(got: Any, expected: Any) -> bool:
    """Equal, or both wasmtime objects of one kind (table.get's Func is a new one each time)."""
    if type(got).__module__.startswith("wasmtime"):
        return type(got) is type(expected)
    return bool(got == expected)


def _code_variants(task: GuardCostTask, extra: dict[str, Any]) -> dict[str, Variant]:
    """The user's statement under every design, on the same objects: its setup runs once,
    with the native patch on (so every Store it makes has a guard); before each batch the
    process is switched to the batch's design (bindings, the Python wrappers, the guards'
    design). How many times one statement enters a Store, per entry point, goes in `extra`."""
    from gvlbench.binding import patches
    from gvlbench.worker.code import CodeTarget

    natives = [d for d in task.guards if d in NATIVE]
    if natives:
        patches.apply(("store-guard-native",), task.mode)
    stmt = CodeTarget(task.code, task.mode).statement()  # type: ignore[arg-type]
    extra["guarded_stores"] = len(patches.native_guards())  # the Stores the setup made
    switch = _DesignSwitch(task.mode, bool(natives))
    variants: dict[str, Variant] = {"unguarded": (switch.plain, stmt)}
    if "python" in task.guards:
        variants["python"] = (switch.python, stmt)
    for design in natives:
        variants[design] = (switch.native(design), stmt)
    switch.plain()
    expected = stmt()
    if natives:
        from gvlbench.binding import native_stock

        extra["entries"] = native_stock.count_entries(stmt)  # wasmtime-py's own bindings now
    for name, (setup, op) in variants.items():  # each design still answers right
        setup()
        got = op()
        if not _same(got, expected):
            raise AssertionError(f"the statement under {name} gave {got!r:.200}, unguarded "
                                 f"{expected!r:.200}")  # fmt: skip
    return variants


class _DesignSwitch:
    """Puts the whole process under one design before a batch: wasmtime-py's own bindings or
    the shim's, the Python guard's wrappers on or off, and the native guards' design."""

    def __init__(self, mode: Mode, native: bool):
        self.mode, self.native_on = mode, native

    def plain(self) -> None:
        from gvlbench.binding import patches

        patches.remove_store_guard()
        if self.native_on:
            from gvlbench.binding import native_stock

            native_stock.restore_stock()
            patches.set_native_design(None)  # a Store the statement makes gets no guard
        use_stock_mode(self.mode)

    def python(self) -> None:
        from gvlbench.binding import patches

        self.plain()
        patches.apply(("store-guard",), self.mode)

    def native(self, design: str) -> Callable[[], None]:
        def setup() -> None:
            from gvlbench.binding import native_stock, patches

            patches.remove_store_guard()
            native_stock.use_stock(self.mode)
            patches.set_native_design(design)

        return setup
