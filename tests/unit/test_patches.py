"""Binding patches against the real wasmtime-py, each in a fresh interpreter (a patch changes
wasmtime-py for the whole process it is applied in)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from gvlbench.protocol import PATCH_NAMES

PRELUDE = """
import threading, time, wasmtime
from gvlbench.binding import patches
from gvlbench.binding.guard import StoreInUseError
WAT = '''(module (import "host" "f" (func $f (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (call $f (local.get 0)))
  (func (export "spin") (param i64) (local i64)
    (loop $l (local.set 1 (i64.add (local.get 1) (i64.const 1)))
      (br_if $l (i64.lt_u (local.get 1) (local.get 0))))))'''
engine = wasmtime.Engine()
module = wasmtime.Module(engine, wasmtime.wat2wasm(WAT))
I32 = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
def instance(store, f):
    linker = wasmtime.Linker(engine)
    linker.define_func("host", "f", I32, f)
    return linker.instantiate(store, module).exports(store)
"""


def _run(body: str) -> str:
    proc = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_the_registry_matches_the_names_the_harness_checks() -> None:
    from gvlbench.binding.patches import PATCHES

    assert tuple(PATCHES) == PATCH_NAMES


STORE_GUARD = """
patches.apply(["store-guard"])
store = wasmtime.Store(engine)
class Boom(Exception):
    pass
def f(x):
    if x == 1:  # a host callback calling back into its own Store, on the owning thread
        return ex["run"](store, 2) + 1
    if x == 9:
        raise Boom()
    return x
ex = instance(store, f)
print("reentrant", ex["run"](store, 1))
refused = []
def intruder():
    try:
        ex["spin"](store, 10)
    except StoreInUseError as e:
        refused.append(e)
owner = threading.Thread(target=ex["spin"], args=(store, 400_000_000), name="owner")
owner.start()
time.sleep(0.05)
t = threading.Thread(target=intruder, name="intruder")
t.start(); t.join(); owner.join()
print("refused", len(refused), refused[0].owner, refused[0].intruder, refused[0].operation)
try:
    ex["run"](store, 9)
except Boom:
    print("raised")
print("usable", ex["run"](store, 5))
"""


def test_store_guard_refuses_a_second_thread_admits_callbacks_and_releases_on_errors() -> None:
    out = _run(STORE_GUARD).split("\n")
    assert out[0] == "reentrant 3"
    assert out[1] == "refused 1 owner intruder Func.__call__"
    assert out[2:4] == ["raised", "usable 5"]


THREAD_LOCAL = """
import gc, sys
patches.apply(["thread-local-exceptions"])
gc.set_threshold(10, 1, 1)  # collections and thread switches everywhere, as verify's check
sys.setswitchinterval(1e-6)
class HostError(Exception):
    pass
wrong = []
def body():
    me = threading.get_ident()
    def f(x):
        raise HostError(me)
    store = wasmtime.Store(engine)
    ex = instance(store, f)
    for _ in range(200):
        try:
            ex["run"](store, 1)
            wrong.append("none")
        except HostError as e:
            if e.args[0] != me:
                wrong.append("another thread's")
        except Exception as e:
            wrong.append(type(e).__name__)
threads = [threading.Thread(target=body) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(len(wrong))
"""


def test_thread_local_exceptions_give_each_thread_its_own() -> None:
    assert _run(THREAD_LOCAL) == "0\n"
