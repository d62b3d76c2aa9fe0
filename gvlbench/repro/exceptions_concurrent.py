# -- the defect -------------------------------------------------------------------------------
# Eight threads, each with its own Store, each calling an export whose host import raises an
# exception that carries the raising thread's id. Every thread should get its own exception
# back. wasmtime-py keeps a callback's exception in the module global
# wasmtime._func.LAST_EXCEPTION until the caller re-raises it, so with threads the caller can
# get another thread's exception, or a bare WasmtimeError("python exception") because another
# thread already took its exception.
import sys
import threading

import wasmtime

WAT = """(module (import "host" "f" (func $f (param i32) (result i32)))
  (func (export "run") (param i32) (result i32) (call $f (local.get 0))))"""
THREADS, CALLS = 8, 200


class HostError(Exception):
    pass


engine = wasmtime.Engine()
module = wasmtime.Module(engine, wasmtime.wat2wasm(WAT))
wrong = []
barrier = threading.Barrier(THREADS)


def worker():
    me = threading.get_ident()

    def f(x):
        raise HostError(me)

    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_func(
        "host", "f", wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()]), f
    )
    run = linker.instantiate(store, module).exports(store)["run"]
    barrier.wait()
    for _ in range(CALLS):
        try:
            run(store, 1)
            wrong.append("no exception")
        except HostError as exc:
            if exc.args[0] != me:
                wrong.append("another thread's HostError")
        except Exception as exc:
            wrong.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


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
