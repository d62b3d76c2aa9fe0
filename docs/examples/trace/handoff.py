"""Threads with their own Stores, each calling a host function that raises with the thread's
own input in its message. Nothing is shared but wasmtime-py's hand-off of a callback's
exception, one module global: under threads a call raises another thread's exception (its
input in the message) or a bare "python exception". Exits 1 when any call got an exception
that was not its own, as a request handler would answer with another request's error.

    gvlbench trace -- python docs/examples/trace/handoff.py
    gvlbench trace --patch thread-local-exceptions -- python docs/examples/trace/handoff.py
"""

import sys
import threading

import wasmtime

WAT = """(module (import "host" "check" (func $check (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (call $check (local.get 0))))"""
THREADS = 4
CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
engine = wasmtime.Engine()
module = wasmtime.Module(engine, WAT)
wrong: list[str] = []


def check(x: int) -> int:
    raise ValueError(f"bad input {x}")


def serve(n: int) -> None:
    store = wasmtime.Store(engine)
    ty = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
    run = wasmtime.Instance(store, module, [wasmtime.Func(store, ty, check)]).exports(store)["run"]
    for _ in range(CALLS):
        try:
            run(store, n)
        except ValueError as exc:
            if str(exc) != f"bad input {n}":
                wrong.append(f"thread {n} got {exc}")
        except wasmtime.WasmtimeError as exc:
            wrong.append(f"thread {n} got {type(exc).__name__}: {str(exc).splitlines()[0]}")


sys.setswitchinterval(1e-6)  # switch threads often, as a busy server does
threads = [threading.Thread(target=serve, args=(n,)) for n in range(THREADS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{len(wrong)} of {THREADS * CALLS} calls got an exception not their own")
for line in sorted(set(wrong))[:5]:
    print(" ", line)
sys.exit(1 if wrong else 0)
