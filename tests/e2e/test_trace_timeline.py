"""`gvlbench trace --timeline`: a real program, traced, its threads recorded by the hook."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from gvlbench import native
from gvlbench import timeline as model
from tests.conftest import WAT, gvlbench

PROGRAM = """
import sys, threading
import wasmtime
engine = wasmtime.Engine()
store = wasmtime.Store(engine)  # one Store, shared by both threads
module = wasmtime.Module(engine, open(sys.argv[1]).read())
inside = threading.Event()
linker = wasmtime.Linker(engine)
# mark(0) runs at the start of the Wasm work, inside the call and its guard: from then on
# `first` is surely inside, whatever the machine's load
linker.define_func("host", "mark", wasmtime.FuncType([wasmtime.ValType.i32()], []),
                   lambda which: inside.set())
run = linker.instantiate(store, module).exports(store)["run"]

def first():
    run(store, 400_000_000)

def second():
    inside.wait()
    run(store, 1_000)

threads = [threading.Thread(target=f, name=f.__name__) for f in (first, second)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_a_traced_shared_store_under_the_mutex_guard_waits_on_the_thread_that_came_second(
    tmp_path: Path,
) -> None:
    """Done when: a traced program with a shared Store under --patch store-guard-mutex shows
    guard waits on the right thread. The hook lets the overlap happen (--let-it-crash: the
    mutex keeps it safe), so `second` waits in the guard's mutex, logged by the shim, while
    `first` is inside Wasm; `first` never waits."""
    if native.unavailable_reason():
        pytest.skip(native.UNAVAILABLE_NO_CC)
    script, path = tmp_path / "shared.py", tmp_path / "t.json"
    script.write_text(PROGRAM)
    cli = gvlbench("trace", "--python", sys.executable, "--patch", "store-guard-mutex",
                   "--let-it-crash", "--timeline", str(path), "--", str(script),
                   str(WAT / "mark.wat"))  # fmt: skip
    assert cli.returncode == 1, cli.stderr  # the sharing is a finding, guarded or not
    assert "Where each thread's time went (timeline)" in cli.stdout
    tl = model.load(path)
    tracks = {t["name"]: t for t in tl.tracks}
    first, second = tracks["first"], tracks["second"]
    assert not [s for s in first["spans"] if s[0] == "guard-wait"]
    (wait,) = [s for s in second["spans"] if s[0] == "guard-wait"]
    inside = [(a, b) for s, a, b in first["spans"] if s == "wasm-released"]
    overlap = sum(max(0, min(wait[2], b) - max(wait[1], a)) for a, b in inside)
    assert overlap >= 0.9 * (wait[2] - wait[1])
    assert tl.command == "trace" and {g["mode"] for g in tl.groups} == {"released"}
