"""One wasmtime component instance (one Store) shared by four threads, each echoing its own
string. The component keeps the string it echoes in one fixed return area, so two calls inside
one instance at once hand each other's string back, trap and poison the instance, or crash the
process (it did, with SIGSEGV, untraced). Exits 1 when any call got another's string or failed.

    gvlbench trace -- python docs/examples/trace/shared_component.py
"""

import sys
import threading
from pathlib import Path

import wasmtime
from wasmtime import component

WAT = Path(__file__).resolve().parents[3] / "wat" / "component.wat"
CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 500
engine = wasmtime.Engine()
store = wasmtime.Store(engine)
made = component.Component(engine, wasmtime.wat2wasm(WAT.read_text()))
instance = component.Linker(engine).instantiate(store, made)
echo = instance.get_func(store, "echo")
wrong: list[str] = []
start = threading.Barrier(4)  # all four call at once, however loaded the machine


def call(n: int) -> None:
    start.wait()
    for i in range(CALLS):
        mine = f"thread {n} call {i}"
        try:
            got = echo(store, mine, 20_000)
            echo.post_return(store)
        except Exception as exc:  # a trap, or a Store poisoned by another thread's trap
            wrong.append(f"{mine}: {type(exc).__name__}")
            continue
        if got != mine:
            wrong.append(f"{mine} got {got}")


threads = [threading.Thread(target=call, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{len(wrong)} of {4 * CALLS} calls went wrong")
for line in sorted({w.split(": ")[-1] if ": " in w else "wrong string" for w in wrong}):
    print(" ", line)
sys.exit(1 if wrong else 0)
