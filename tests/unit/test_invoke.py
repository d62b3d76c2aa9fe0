"""The call layer against real wasmtime: both modes, both paths, same answers and errors."""

from __future__ import annotations

import threading
import time

import pytest
import wasmtime

from gvlbench.binding import hosts
from gvlbench.binding.embed import Embedding, ExpectationError, load_module, make_embeddings
from gvlbench.binding.invoke import FUNC_CALL, CallPath, Mode, check_args
from gvlbench.errors import SignatureError
from gvlbench.modes import GIL_MODES
from gvlbench.protocol import Import, Target
from gvlbench.wat import compile_wat
from tests.conftest import WAT

MODES = list(GIL_MODES)
PATHS = list(CallPath.bindings())


def _target(name: str, export: str, args: tuple, imports: tuple = (), **kw) -> Target:
    return Target(str(compile_wat(WAT / f"{name}.wat").wasm_path), export, args, imports, **kw)


def test_the_two_modes_are_the_same_function_from_the_same_library() -> None:
    released, held = FUNC_CALL[Mode.RELEASED], FUNC_CALL[Mode.HELD]
    # the same symbol address: one library, one function; only the ctypes flags differ
    import ctypes

    assert ctypes.cast(released, ctypes.c_void_p).value == ctypes.cast(held, ctypes.c_void_p).value
    assert released.argtypes == held.argtypes and released.restype == held.restype
    # the prepared paths' binding: the same symbol again, only without argtypes to convert
    from gvlbench.binding.invoke import _FAST_CALL

    fast = {ctypes.cast(f, ctypes.c_void_p).value for f in _FAST_CALL.values()}
    assert fast == {ctypes.cast(released, ctypes.c_void_p).value}
    assert _FAST_CALL[Mode.HELD]._flags_ != _FAST_CALL[Mode.RELEASED]._flags_  # PyDLL vs CDLL


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", PATHS)
def test_results_and_callbacks_agree_across_modes_and_paths(mode: Mode, path: CallPath) -> None:
    spin = make_embeddings(_target("spin", "spin", (1000,)), mode, path, 1)[0]
    expected = sum(i ^ 0x9E3779B9 for i in range(1000))
    assert spin.call() == expected
    cb = _target("callback", "run", (10,), (Import("host", "add", "add_one"),), expect_result=42)
    assert make_embeddings(cb, mode, path, 1)[0].checked_call() == 42


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", PATHS)
def test_traps_and_host_exceptions_come_back(mode: Mode, path: CallPath) -> None:
    trap = make_embeddings(_target("trap", "trap", ()), mode, path, 1)[0]
    with pytest.raises(wasmtime.Trap, match="unreachable"):
        trap.call()
    raising = _target("callback", "run", (1,), (Import("host", "add", "raise"),))
    with pytest.raises(hosts.HostError, match="host raised for 41"):
        make_embeddings(raising, mode, path, 1)[0].call()


def test_expectations_are_enforced() -> None:
    wrong = _target("callback", "run", (1,), (Import("host", "add", "add_one"),), expect_result=7)
    with pytest.raises(ExpectationError, match="returned 42, expected 7"):
        make_embeddings(wrong, Mode.RELEASED, CallPath.LEAN, 1)[0].checked_call()
    no_trap = _target("spin", "spin", (1,), expect_trap="unreachable")
    with pytest.raises(ExpectationError, match="expected a trap"):
        make_embeddings(no_trap, Mode.RELEASED, CallPath.LEAN, 1)[0].checked_call()


@pytest.mark.parametrize(
    ("params", "args", "match"),
    [
        (("i32",), (), "takes 1 argument"),
        (("i32",), (2**32,), "must be an i32 integer"),
        (("i64",), (1.0,), "must be an i64 integer"),
        (("f64",), ("x",), "must be a number"),
        (("v128",), (1,), "unsupported type"),
    ],
)
def test_check_args_rejects(params: tuple, args: tuple, match: str) -> None:
    with pytest.raises(SignatureError, match=match):
        check_args("f", params, args)


def test_held_keeps_the_lock_and_released_gives_it_away() -> None:
    """Behaviour, not speed. A sibling thread counts while one ~0.3 s call runs. Held, it can
    only slip in at the Python steps around the call (at most a switch interval, 5 ms, at
    each end); released, it counts through the whole call, on one core or many."""
    target = _target("spin", "spin", (1_000_000_000,))
    counts = {}
    for mode in MODES:
        emb = make_embeddings(target, mode, CallPath.LEAN, 1)[0]
        stop = threading.Event()
        ticks = [0]

        def sibling(ticks=ticks, stop=stop) -> None:
            while not stop.is_set():
                ticks[0] += 1

        t = threading.Thread(target=sibling, daemon=True)
        t.start()
        time.sleep(0.02)
        before = ticks[0]
        emb.call()
        counts[mode] = ticks[0] - before
        stop.set()
        t.join()
    assert counts[Mode.RELEASED] > 5 * max(counts[Mode.HELD], 1), counts


def test_embeddings_share_a_module_but_not_a_store() -> None:
    embs = make_embeddings(_target("spin", "spin", (10,)), Mode.RELEASED, CallPath.LEAN, 3)
    assert len({id(e.store) for e in embs}) == 3
    assert len({id(e.module) for e in embs}) == 1


def test_a_module_wasmtime_rejects_is_a_wat_error(tmp_path) -> None:
    from gvlbench.errors import WatError

    bad = tmp_path / "bad.wasm"
    bad.write_bytes(b"\0asm\x01\0\0\0\x01")
    with pytest.raises(WatError, match="wasmtime rejected the module"):
        load_module(wasmtime.Engine(), str(bad))


def test_embedding_records_marks_in_its_context() -> None:
    ctx = hosts.HostContext(counter=lambda: 5)
    target = _target("mark", "run", (100,), (Import("host", "mark", "mark"),))
    engine = wasmtime.Engine()
    emb = Embedding(engine, load_module(engine, target.wasm_path), target, Mode.HELD,
                    CallPath.STOCK, ctx)  # fmt: skip
    emb.call()
    assert [(w, c) for w, c, _ in ctx.marks] == [(0, 5), (1, 5)]


@pytest.mark.parametrize("path", list(CallPath))
def test_every_call_path_keeps_its_store_alive(path: CallPath) -> None:
    """A prepared call holds raw pointers into its Store: dropping the Embedding and keeping
    the call must not free the Store (it did for raw and floor: a SIGSEGV in `calls`)."""
    import gc
    import weakref

    from gvlbench.harness.target import prepare_target
    from gvlbench.scenario import find

    target, _ = prepare_target(find("nop"))
    (emb,) = make_embeddings(target, Mode.RELEASED, path, 1)
    store, call = weakref.ref(emb.store), emb.call
    del emb
    gc.collect()
    assert store() is not None
    call()
