"""Call paths, sweep, pool and interpreter logic: real wasmtime, real interpreters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from gvlbench.binding.embed import make_embeddings
from gvlbench.binding.invoke import CallPath, Mode
from gvlbench.errors import InterpreterError, OptionError, SpecError
from gvlbench.harness import interpreter
from gvlbench.harness.sweep import SweepOptions, log_sizes, plan, sized
from gvlbench.modes import GIL_MODES
from gvlbench.protocol import Target
from gvlbench.report.calls import CallRow, verdict
from gvlbench.report.sweep import SweepRow, crossover
from gvlbench.scenario import find
from gvlbench.wat import compile_wat
from gvlbench.worker.pool import shares
from tests.conftest import REPO, WAT


def _arith(export: str, args: tuple, **kw) -> Target:
    return Target(str(compile_wat(WAT / "arith.wat").wasm_path), export, args, **kw)


@pytest.mark.parametrize("mode", GIL_MODES)
def test_raw_and_floor_call_for_real_and_are_checked_through_lean(mode: Mode) -> None:
    add = _arith("add_i64", (2, 3), expect_result=5)
    raw = make_embeddings(add, mode, CallPath.RAW, 1)[0]
    assert raw.call() is None  # the error pointer: NULL, nothing converted
    assert raw.checked_call() == 5  # the Store is checked through the lean path
    floor = make_embeddings(add, mode, CallPath.FLOOR, 1)[0]
    assert isinstance(floor.call(), int) and floor.call() == floor.call()  # a context pointer
    wrong = _arith("add_i64", (2, 3), expect_result=6)
    with pytest.raises(AssertionError, match="returned 5, expected 6"):
        make_embeddings(wrong, mode, CallPath.RAW, 1)[0].checked_call()


# The first call counts to 1 and traps; every later call returns its count. It runs in a
# child: without the reset, the second call re-raises the first call's trap from its freed
# pointer, which can take the whole process down instead of failing an assertion.
_TRAP_ONCE = r"""
import ctypes, sys, wasmtime
from gvlbench.binding.invoke import Mode, PreparedCall

WAT = '''(module (global $n (mut i32) (i32.const 0))
  (func (export "f") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.eq (global.get $n) (i32.const 1)) (then unreachable))
    (global.get $n)))'''
for mode in (Mode.HELD, Mode.RELEASED):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    inst = wasmtime.Instance(store, wasmtime.Module(engine, wasmtime.wat2wasm(WAT)), [])
    call = PreparedCall(store, inst.exports(store)["f"], (), mode)
    assert ctypes.sizeof(call._trap) == ctypes.sizeof(ctypes.c_void_p)
    try:
        call.lean()
        sys.exit(f"{mode}: the first call did not trap")
    except wasmtime.Trap as exc:
        assert "unreachable" in str(exc), exc
    try:
        counts = [call.lean(), call.lean()]  # the same buffers, the same trap slot
    except wasmtime.Trap:
        sys.exit(f"{mode}: a call that did not trap raised the previous call's trap")
    print(mode, *counts)
"""


def test_lean_resets_the_trap_slot_between_calls() -> None:
    """wasmtime_func_call writes the trap slot when a call traps and leaves it alone when a
    call returns, so `_raise` must clear it: a PreparedCall that trapped once must return
    normally the next time it is called."""
    proc = subprocess.run([sys.executable, "-c", _TRAP_ONCE], capture_output=True, text=True,
                          timeout=60, cwd=REPO)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert proc.stdout.splitlines() == ["held 2 3", "released 2 3"]


def test_calls_verdict_takes_the_worst_case() -> None:
    rows = [CallRow("nop", "lean", "held", "ok", 1.0, over_raw=1.1, over_lean=1.0),
            CallRow("add", "lean", "held", "ok", 1.0, over_raw=1.4, over_lean=1.0),
            CallRow("nop", "stock", "held", "ok", 9.0, over_raw=9.9, over_lean=9.0),
            CallRow("add", "stock", "held", "ok", 4.0, over_raw=5.6, over_lean=4.0)]  # fmt: skip
    v = verdict(rows)
    assert (v.lean_over_raw, v.stock_over_lean) == (1.4, 4.0)
    assert not v.lean_ok and not v.stock_ok
    assert not verdict([]).lean_ok  # nothing measured is not a pass


def _row(size: int, pays: bool, path: str = "lean") -> SweepRow:
    return SweepRow(path, size, None, 1.0, 0.5, 2.0 if pays else 1.0,
                    "faster" if pays else "same", pays)  # fmt: skip


def test_crossover_is_the_smallest_size_from_which_every_larger_one_pays() -> None:
    rows = [_row(1, True), _row(10, False), _row(100, True), _row(1000, True)]
    assert crossover(rows, "lean").size == 100  # a lucky small size does not count
    assert crossover([_row(1, True), _row(10, False)], "lean") is None
    assert crossover(rows, "stock") is None


def test_sweep_plan_sizes_and_bad_options() -> None:
    spin = find("spin")
    assert sized(spin, 3000).name == "spin[n=3000]" and sized(spin, 3000).args == (3000,)
    assert log_sizes(3_000, 30_000_000) == (3000, 9487, 30000, 94868, 300000, 948683,
                                            3000000, 9486833, 30000000)  # fmt: skip
    stock, lean = CallPath.STOCK, CallPath.LEAN
    assert plan(SweepOptions(spin, sizes=(1000, 10))) == [
        (10, stock), (10, lean), (1000, stock), (1000, lean)]  # fmt: skip
    with pytest.raises(SpecError, match="work_arg"):
        SweepOptions(find("nop"))
    with pytest.raises(OptionError):
        SweepOptions(spin, threads=1)
    with pytest.raises(OptionError):
        SweepOptions(spin, sizes=(0, 10))


def test_paired_verdict_reads_per_round_ratios() -> None:
    from gvlbench.report.sweep import paired_verdict

    assert paired_verdict([1.9, 2.0, 1.95, 2.05]) == "faster"
    assert paired_verdict([0.5, 0.52, 0.49]) == "slower"
    assert paired_verdict([0.8, 1.25, 0.9, 1.1]) == "same"  # noise around no gain
    assert paired_verdict([2.0, 2.0]) == "unsure"


def test_pool_shares_split_the_same_total() -> None:
    assert shares(40, 1) == [40] and shares(40, 3) == [14, 13, 13] and sum(shares(7, 4)) == 7


def test_probe_reports_the_running_interpreter() -> None:
    me = interpreter.probe(sys.executable)
    assert me.version == interpreter.current().version and me.gil == "enabled"
    assert me.label == f"python{me.version}" and not me.default


@pytest.mark.parametrize(
    ("path", "message"),
    [("/nonexistent/python", "no such file"), ("/etc/passwd", "not executable"),
     (str(REPO / "README.md"), "not executable")],
)  # fmt: skip
def test_probe_refuses_what_cannot_run_the_worker(path: str, message: str) -> None:
    with pytest.raises(InterpreterError, match=message):
        interpreter.probe(path)


def test_probe_names_missing_packages_and_the_fix() -> None:
    bare = sorted(Path.home().glob(".pyenv/versions/3.1[23]*/bin/python"))
    if not bare:
        pytest.skip("no pyenv 3.12/3.13 interpreter on this machine")
    with pytest.raises(InterpreterError, match=r"lacks wasmtime, pyperf; add with: .* -m pip"):
        interpreter.probe(str(bare[0]))


def test_call_ratios_pair_batches_of_the_same_round() -> None:
    """Per-round ratios: a slow phase that hits both paths of a round cancels out."""
    from gvlbench.report.calls import call_rows
    from gvlbench.results import Results

    def bench(path: str, values: list[float]) -> dict:
        md = {"name": f"nop/mode=held/threads=1/path={path}", "scenario": "nop",
              "mode": "held", "call_path": path, "unit": "second"}  # fmt: skip
        return {"metadata": md, "runs": [{"metadata": {}, "values": values}]}

    res = Results({}, "calls")
    res.add_benchmark(bench("raw", [1.0, 2.0, 2.0, 2.0]))  # the host halves its speed
    res.add_benchmark(bench("lean", [1.2, 2.4, 2.4, 2.4]))
    rows = {r.path: r for r in call_rows(res)}
    assert rows["lean"].over_raw == pytest.approx(1.2)
    assert rows["raw"].over_lean == pytest.approx(1 / 1.2)


@pytest.mark.parametrize("mode", GIL_MODES)
def test_lean_reads_every_value_type_like_func_call(mode: Mode) -> None:
    """The lean path reads results through scalar views of the result buffer: they must agree
    with wasmtime-py's own conversion, signs, widths and multiple results included."""
    from gvlbench.binding.invoke import PreparedCall

    wat = """(module
      (func (export "i32") (param i32) (result i32) local.get 0)
      (func (export "i64") (param i64) (result i64) local.get 0)
      (func (export "f32") (param f32) (result f32) local.get 0)
      (func (export "f64") (param f64) (result f64) local.get 0)
      (func (export "two") (param i32 i64) (result i64 i32) local.get 1 local.get 0))"""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    exports = wasmtime.Instance(store, wasmtime.Module(engine, wasmtime.wat2wasm(wat)), []).exports(
        store
    )
    cases = [("i32", (-5,)), ("i32", (2**31 - 1,)), ("i64", (-(2**63),)), ("f32", (1.5,)),
             ("f64", (-2.25,)), ("two", (3, -4))]  # fmt: skip
    for name, args in cases:
        func = exports[name]
        assert PreparedCall(store, func, args, mode).lean() == func(store, *args), name
