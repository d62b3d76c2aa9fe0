"""Code targets: the statement's compilation, per-thread setup in its own thread, and the
profile hooks charging real wasmtime-py calls to their phases. Each case that sets up code
runs in a fresh interpreter (a code target changes wasmtime-py for its whole process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from gvlbench.errors import CodeError
from gvlbench.protocol import Code
from gvlbench.pycode import STMT_NAME, check, comparable, compile_stmt


def _stmt(source: str, namespace: dict | None = None):
    namespace = {} if namespace is None else namespace
    exec(compile_stmt(source), namespace)
    return namespace[STMT_NAME]


def test_a_statement_ending_in_an_expression_returns_it_and_keeps_its_names_local() -> None:
    namespace = {"base": 40}
    fn = _stmt("x = base + 1\nx + 1", namespace)
    assert fn() == 42 and "x" not in namespace
    assert _stmt("y = 1")() is None


@pytest.mark.parametrize(("code", "needle"), [
    (Code("1 +"), "--stmt does not compile"),
    (Code(""), "--stmt is empty"),
    (Code("yield 1"), "may not yield"),
    (Code("1", setup=("def (",)), "--setup does not compile"),
    (Code("1", per_thread_setup=("x = = 1",)), "--per-thread-setup does not compile"),
])  # fmt: skip
def test_code_that_does_not_compile_names_its_part(code: Code, needle: str) -> None:
    with pytest.raises(CodeError, match=needle):
        check(code)


def test_only_types_with_their_own_equality_are_compared() -> None:
    assert comparable(3) and comparable("s") and comparable([1])
    assert not comparable(object()) and not comparable(None)  # None: nothing to compare


def _run(body: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(body)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_per_thread_setup_runs_in_each_thread_into_that_threads_own_namespace() -> None:
    out = _run("""
        import threading
        from gvlbench.protocol import Code, Mode
        from gvlbench.worker.code import CodeTarget
        code = Code("(me, mine is shared_list)", setup=("shared_list = []",),
                    per_thread_setup=("import threading; me = threading.get_ident(); "
                                      "mine = shared_list",))
        target = CodeTarget(code, Mode.RELEASED)
        seen = [target.call()]
        t = threading.Thread(target=lambda: seen.append(target.call())); t.start(); t.join()
        assert seen[0][0] == threading.get_ident() and seen[1][0] == t.ident, seen
        assert seen[0][1] and seen[1][1]  # setup's objects are shared, names are per thread
        print("ok")
    """)
    assert out.strip() == "ok"


def test_held_points_wasmtime_pys_own_func_call_at_the_lock_keeping_handle() -> None:
    out = _run("""
        import ctypes
        from wasmtime import _bindings
        from gvlbench.protocol import Code, Mode
        from gvlbench.worker.code import CodeTarget
        before = _bindings._wasmtime_func_call
        CodeTarget(Code("1"), Mode.HELD)
        after = _bindings._wasmtime_func_call
        keeps_gil = bool(after._flags_ & ctypes._FUNCFLAG_PYTHONAPI)
        print(before is not after, keeps_gil, bool(before._flags_ & ctypes._FUNCFLAG_PYTHONAPI))
    """)
    assert out.split() == ["True", "True", "False"], out


def test_the_profile_charges_each_phase_of_a_real_module() -> None:
    out = _run("""
        import json, wasmtime
        from gvlbench.binding.profile import install
        prof = install()
        prof.enabled = True
        engine = wasmtime.Engine()
        module = wasmtime.Module(engine, '''(module (import "h" "f" (func $f))
          (memory (export "mem") 1)
          (func (export "run") (call $f) (call $f)))''')
        store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        linker.define_func("h", "f", wasmtime.FuncType([], []), lambda: None)
        exports = linker.instantiate(store, module).exports(store)
        prof.reset()
        exports["run"](store)
        exports["mem"].read(store, 0, 4)
        print(json.dumps(prof.calls))
    """)
    import json

    calls = json.loads(out)
    # one Wasm call with two callbacks inside it; two export lookups and the read: binding
    assert calls == {"wasm": 1, "host": 2, "binding": 3}, calls
