"""One extism Plugin shared by four threads, each echoing its own input. extism's Plugin.call is
four C calls, each taking the plugin's lock on its own, so a thread can read another thread's
output: no crash, a wrong answer. Exits 1 when any call got an output that was not its own.

    gvlbench trace -- python docs/examples/trace/shared_plugin.py
"""

import sys
import threading
from pathlib import Path

import extism
import wasmtime

WAT = Path(__file__).resolve().parents[3] / "wat" / "extism_spin.wat"
CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 200
plugin = extism.Plugin(bytes(wasmtime.wat2wasm(WAT.read_text())), wasi=False)
wrong: list[str] = []


def echo(n: int) -> None:
    for i in range(CALLS):
        mine = f"thread {n} call {i}".encode()
        got = plugin.call("echo", mine)
        if got != mine:
            wrong.append(f"{mine!r} got {got!r}")


threads = [threading.Thread(target=echo, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{len(wrong)} of {4 * CALLS} calls got another call's output")
sys.exit(1 if wrong else 0)
