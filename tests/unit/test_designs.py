"""The native guard designs on every Store entry point, with real threads on real Stores: the
owner word admits a Store moved to another thread and refuses a second thread inside it;
thread affinity refuses the move; the mutex makes the second thread wait; every accessor
refuses through the shim as the call does. And the designs table reads its rows right."""

from __future__ import annotations

import ctypes
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import wasmtime

from gvlbench import native, scenario, wat
from gvlbench.binding.guard import StoreInUseError
from gvlbench.binding.invoke import CallPath, Mode
from gvlbench.designs import ACCESSORS
from gvlbench.report.designs import describe_entries, design_rows
from gvlbench.results import Results

pytestmark = pytest.mark.skipif(
    native.compiler() is None and not native.LIBRARY.exists(), reason=native.UNAVAILABLE_NO_CC
)


@pytest.fixture()
def guarded():  # type: ignore[no-untyped-def]
    """wat/entries.wat in one Store under a native guard, and its prepared accessors."""
    from gvlbench.binding import entries, native_guard

    es = entries.EntryStore.make(str(wat.compile_wat(scenario.find("entries").wat_path).wasm_path))
    guard = native_guard.NativeStoreGuard(es.store, "store-E")
    fns = native_guard.functions(Mode.RELEASED)
    ops = {k: entries.prepared(es, k, CallPath.LEAN, fns) for k in ACCESSORS}
    work = es.instance.exports(es.store)["work"]
    return es, guard, ops, work


def _on_another_thread(fn):  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(1, thread_name_prefix="pool") as pool:
        return pool.submit(fn).result()


def test_the_owner_word_admits_a_moved_store_and_affinity_refuses_it(guarded) -> None:  # type: ignore[no-untyped-def]
    es, guard, ops, work = guarded
    assert work(es.store, 10) == 45  # made and used here
    for design, admitted in (("native", True), ("mutex", True), ("affinity", False)):
        guard.redesign(design)  # from this thread: affinity's owner is this thread
        for kind, op in ops.items():
            if admitted:
                assert _on_another_thread(op) == op(), (design, kind)
            else:
                with pytest.raises(StoreInUseError) as info:
                    _on_another_thread(op)
                assert "belongs to thread" in str(info.value), kind
                assert info.value.design == "affinity"


PARK = """
(module
  (import "host" "inside" (func $inside))
  (memory (export "memory") 1)
  (global (export "global") (mut i64) (i64.const 3))
  (func (export "run") (call $inside)))
"""


class Parked:
    """A Store whose owner thread is parked inside a call (in a host callback), with every
    wasmtime-py binding pointed at the shim, as --patch store-guard-native does."""

    def __init__(self, design: str):
        from gvlbench.binding import native_guard, native_stock

        self.inside, self.leave = threading.Event(), threading.Event()
        engine = wasmtime.Engine()
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        linker.define_func("host", "inside", wasmtime.FuncType([], []), self._inside)
        module = wasmtime.Module(engine, wasmtime.wat2wasm(PARK))
        self.exports = linker.instantiate(self.store, module).exports(self.store)
        self.guard = native_guard.NativeStoreGuard(self.store, "store-P", design)
        native_stock.use_stock(Mode.RELEASED)
        self.owner = threading.Thread(target=self.exports["run"], args=(self.store,),
                                      name="owner-thread")  # fmt: skip
        self.owner.start()
        assert self.inside.wait(10)

    def _inside(self) -> None:
        self.inside.set()
        self.leave.wait(10)
        self.leaving = True  # set inside the call, just before it returns

    leaving = False

    def accessors(self) -> dict[str, object]:
        store, mem, glob = self.store, self.exports["memory"], self.exports["global"]
        return {"memory.size": lambda: mem.size(store), "global.get": lambda: glob.value(store),
                "global.set": lambda: glob.set_value(store, 4),
                "store.get_fuel": store.get_fuel, "store.gc": store.gc,
                "memory.read": lambda: mem.read(store, 0, 4)}  # fmt: skip


@pytest.fixture()
def stock_restored():  # type: ignore[no-untyped-def]
    from gvlbench.binding import native_stock

    parked: list[Parked] = []
    yield parked
    for p in parked:
        p.leave.set()
        p.owner.join(10)
    native_stock.restore_stock()


def test_under_the_owner_word_a_second_thread_is_refused_by_every_accessor(stock_restored) -> None:  # type: ignore[no-untyped-def]
    p = Parked("native")
    stock_restored.append(p)
    for name, op in p.accessors().items():
        with pytest.raises(StoreInUseError) as info:
            op()  # type: ignore[operator]
        err = info.value
        assert err.owner == "owner-thread" and "is in use by thread" in str(err), name
    assert p.guard.refused >= len(p.accessors())
    # every refusal was raised where it happened: none is left for an unrelated Store's
    # ordinary entries on this thread (a falsy value, an error of its own) to be taken for
    other = wasmtime.Store(wasmtime.Engine())
    module = wasmtime.Module(other.engine, '(module (memory (export "m") 0))')
    empty = wasmtime.Instance(other, module, []).exports(other)["m"]
    assert empty.size(other) == 0  # a real 0 from memory_size is not a refusal
    with pytest.raises(wasmtime.WasmtimeError):
        empty.grow(other, 1 << 20)  # past the limit: wasmtime's own error, as it was


def test_under_the_mutex_a_second_thread_waits_for_the_owner(stock_restored) -> None:  # type: ignore[no-untyped-def]
    p = Parked("mutex")
    stock_restored.append(p)
    done = threading.Event()
    box: dict[str, object] = {}

    def size() -> None:
        box["size"] = p.exports["memory"].size(p.store)
        box["after_owner"] = p.leaving  # let in only once the owner's call was leaving
        done.set()

    waiter = threading.Thread(target=size)
    waiter.start()
    assert not done.wait(0.3)  # blocked while the owner is inside
    p.leave.set()
    assert done.wait(10) and box["size"] == 1
    assert box["after_owner"] is True
    waiter.join(10)
    assert p.guard.refused == 0


def test_the_designs_table_reads_hazards_prevention_and_refusals() -> None:
    res = Results({}, "race --designs")
    trial = {"trial_status": "survived", "threads": 2, "calls": 10, "refused": 0,
             "exceptions": {}, "duration_s": 1.0, "after_start_s": 0.1, "signal": None,
             "panic": None}  # fmt: skip
    res.race = [
        {**trial, "entry": "global-set", "config": "global-set: shared, released",
         "trial_status": "wrong", "wrong": 3},
        {**trial, "entry": "global-set", "config": "global-set: shared, released, native guard",
         "trial_status": "raised", "refused": 5},
        {**trial, "entry": "global-set", "config": "global-set: shared, released, mutex guard",
         "trial_status": "wrong", "wrong": 1},
        {**trial, "entry": "instantiate", "config": "instantiate: shared, released"},
    ]  # fmt: skip
    res.legal_uses = [{"design": d, "use": u, "outcome": o, "detail": ""}
                      for d, u, o in (("native", "move", "admitted"),
                                      ("mutex", "move", "admitted"),
                                      ("affinity", "move", "refused"))]  # fmt: skip
    rows = {r.design: r for r in design_rows(res)}
    assert rows["none"].prevented == ["global-set"]  # the hazards
    assert rows["none"].not_prevented == ["instantiate"]  # raced, nothing seen
    assert rows["native"].prevented == ["global-set"] and not rows["native"].not_prevented
    assert rows["mutex"].not_prevented == ["global-set"]  # a wrong result under it is a failure
    assert rows["affinity"].refuses == ["move"] and rows["native"].refuses == []


def test_a_statements_entries_are_described_calls_first() -> None:
    entries = {"wasmtime_func_call": 13, "wasmtime_func_type": 13,
               "wasmtime_memory_data_size": 7, "wasmtime_memory_data": 4}  # fmt: skip
    assert describe_entries(entries) == (
        "13 calls + 24 other entries (13 func_type, 7 memory_data_size, 4 memory_data)"
    )


def test_the_committed_designs_run_holds_what_docs_race_md_says() -> None:
    """results/designs.json (`race --designs`, quoted in docs/race.md): every design priced on
    the call and every accessor along every path, every entry race raced unguarded and under
    every design, and the owner word under 5% of every lean accessor."""
    from gvlbench import results
    from gvlbench.designs import ENTRY_RACES, GUARDS
    from gvlbench.report.guard_cost import guard_cost_rows
    from tests.conftest import REPO

    res = results.load(REPO / "results" / "designs.json")
    rows = guard_cost_rows(res)
    for entry in ("call", *ACCESSORS):
        for path in ("raw", "lean", "stock", "ruby-ffi"):
            found = [r for r in rows if r.entry == entry and r.call_path == path]
            assert found, (entry, path)
            assert all({g.guard for g in r.guards} == set(GUARDS) for r in found), (entry, path)
    lean = [r for r in rows if r.entry in ACCESSORS and r.call_path == "lean"]
    owner = [r.guard("native") for r in lean]
    assert max(g.share for g in owner) <= 0.05  # type: ignore[union-attr]
    # the page's answer quotes this very range
    ns = sorted(round(g.cost_ns) for g in owner)  # type: ignore[union-attr]
    shares = sorted(g.share * 100 for g in owner)  # type: ignore[union-attr]
    quoted = f"{ns[0]}-{ns[-1]} ns per accessor, {shares[0]:.1f}-{shares[-1]:.1f}% of each lean"
    assert quoted in " ".join((REPO / "docs" / "race.md").read_text().replace("> ", "").split())
    raced = {(t["entry"], t["guard_kind"] or "none") for t in res.race}
    assert raced == {(e, d) for e in ENTRY_RACES for d in ("none", *GUARDS)}
    moves = {u["design"]: u["outcome"] for u in res.legal_uses if u["use"] == "move"}
    assert moves["native"] == "admitted" and moves["affinity"] == "refused"


def test_a_guard_made_again_for_the_same_store_is_not_freed_by_the_old_ones_close() -> None:
    """A Store freed without its guard, and a new one at the same address: the slot guards the
    new one afresh (a new generation), and the old guard's late free leaves it alone."""
    from gvlbench.binding import native_guard

    store = wasmtime.Store(wasmtime.Engine())
    old = native_guard.NativeStoreGuard(store, "old", "affinity")
    new = native_guard.NativeStoreGuard(store, "new", "affinity")  # as for a reused address
    old.close()  # the old Store's finalizer, late
    assert new._release.alive
    module = wasmtime.Module(store.engine, '(module (memory (export "m") 1))')
    mem = wasmtime.Instance(store, module, []).exports(store)["m"]
    fn = native_guard.entry("wasmtime_memory_size", Mode.RELEASED, fast=False)

    def from_another_thread() -> int:
        return fn(store._context(), ctypes.byref(mem._memory))

    assert _on_another_thread(from_another_thread) == 0  # refused: still guarded
    assert new.refused == 1
    new.close()
    assert _on_another_thread(from_another_thread) == 1  # unguarded now


def test_the_native_patch_frees_a_stores_guard_when_the_store_is_closed() -> None:
    # in a child: the patch is process-wide and would stay on in this test process
    code = """
import wasmtime
from gvlbench.binding import patches
patches.apply(["store-guard-native"])
store = wasmtime.Store(wasmtime.Engine())
guard = patches._NATIVE[store]
store.close()
print(guard._release.alive, len(patches.native_guards()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "0"], out.stderr


def test_thousands_of_guarded_stores_each_keep_their_own_guard() -> None:
    """The shim finds a Store's guard by hashing its context pointer: past the old table's
    1,024 slots, and with guards freed among them, every Store still has its own."""
    from gvlbench.binding import native_guard

    engine = wasmtime.Engine()
    module = wasmtime.Module(engine, '(module (memory (export "m") 1))')
    stores = [wasmtime.Store(engine) for _ in range(1500)]
    guards = [native_guard.NativeStoreGuard(s, f"s{i}", "affinity") for i, s in enumerate(stores)]
    for guard in guards[::2]:
        guard.close()  # tombstones among the live ones
    fn = native_guard.entry("wasmtime_memory_size", Mode.RELEASED, fast=False)
    for i in (1, 747, 1499):
        mem = wasmtime.Instance(stores[i], module, []).exports(stores[i])["m"]
        args = (stores[i]._context(), ctypes.byref(mem._memory))
        assert _on_another_thread(lambda a=args: fn(*a)) == 0  # refused: its own guard
        assert guards[i].refused == 1
    mem = wasmtime.Instance(stores[2], module, []).exports(stores[2])["m"]
    assert _on_another_thread(lambda: fn(stores[2]._context(), ctypes.byref(mem._memory))) == 1
