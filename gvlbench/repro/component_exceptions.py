# -- the defect -------------------------------------------------------------------------------
# Eight threads, each calling a component export whose import (a Python host function)
# raises an exception that carries the raising thread's id; every call on a fresh Store and
# instance (a component instance that trapped refuses later calls). Every thread should get
# its own exception back. wasmtime-py's component model keeps a host function's exception in
# the module global wasmtime.component._enter.LAST_EXCEPTION until the caller re-raises it (a
# slot apart from wasmtime._func's), so with threads a caller can get another thread's
# exception, or a bare WasmtimeError (the trap "python exception") because another thread
# already took its own.
import ctypes
import sys
import threading

import wasmtime
from wasmtime import _bindings, _ffi
from wasmtime import component as cm

if MODE == "held":  # noqa: F821 (set above by gvlbench): the component call, held likewise
    _held_call = ctypes.PyDLL(str(_ffi.filename)).wasmtime_component_func_call
    _held_call.restype = _bindings._wasmtime_component_func_call.restype
    _held_call.argtypes = _bindings._wasmtime_component_func_call.argtypes
    _bindings._wasmtime_component_func_call = _held_call

WAT = """(component
  (import "host" (func $host (param "n" u32) (result u32)))
  (core module $m
    (import "host" "f" (func $f (param i32) (result i32)))
    (func (export "run") (param i32) (result i32) (call $f (local.get 0))))
  (core func $f (canon lower (func $host)))
  (core instance $h (export "f" (func $f)))
  (core instance $i (instantiate $m (with "host" (instance $h))))
  (func (export "run") (param "n" u32) (result u32) (canon lift (core func $i "run"))))"""
THREADS, CALLS = 8, 200


class HostError(Exception):
    pass


engine = wasmtime.Engine()
component = cm.Component(engine, wasmtime.wat2wasm(WAT))
wrong = []
barrier = threading.Barrier(THREADS)


def worker():
    me = threading.get_ident()

    def host(store, n):
        raise HostError(me)

    linker = cm.Linker(engine)
    with linker.root() as root:
        root.add_func("host", host)
    barrier.wait()
    for _ in range(CALLS):
        store = wasmtime.Store(engine)
        run = linker.instantiate(store, component).get_func(store, "run")
        try:
            run(store, 1)
            wrong.append("no exception")
        except HostError as exc:
            if exc.args[0] != me:
                wrong.append("another thread's HostError")
        except Exception as exc:
            last = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][-1]
            wrong.append(f"{type(exc).__name__}: {last}")


sys.setswitchinterval(1e-6)  # switch threads often, as a busy program does
threads = [threading.Thread(target=worker) for _ in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"mode {MODE}: {len(wrong)} of {THREADS * CALLS} calls got the wrong outcome")  # noqa: F821
for kind in sorted(set(wrong)):
    print(f"  {wrong.count(kind)}x {kind}")
sys.exit(1 if wrong else 0)
