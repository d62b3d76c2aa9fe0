"""A whole program's timeline (what `trace --timeline` records in a traced program): a real
program in a child process, two threads sharing one Store under the native mutex guard."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gvlbench import native
from gvlbench import timeline as model
from gvlbench.answers import read_as
from tests.conftest import REPO, WAT

PROGRAM = textwrap.dedent("""
    import sys, threading
    from gvlbench.binding import patches
    from gvlbench.binding.timeline import ProcessTimeline
    from gvlbench.protocol import Mode
    patches.apply(["store-guard-mutex"])  # as `trace --patch store-guard-mutex` does
    recording = ProcessTimeline(sys.argv[1], Mode.RELEASED, "the program")
    import wasmtime
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)  # one Store, shared by both threads
    module = wasmtime.Module(engine, open(sys.argv[2]).read())
    inside = threading.Event()
    linker = wasmtime.Linker(engine)
    mark_type = wasmtime.FuncType([wasmtime.ValType.i32()], [])
    # mark(0) runs at the start of the Wasm work, inside the call (and its guard): the moment
    # `first` is surely inside, whatever the machine's load
    linker.define_func("host", "mark", mark_type, lambda which: inside.set())
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
    recording.finish()
""")


def test_a_shared_store_under_the_mutex_guard_shows_the_wait_on_the_thread_that_came_second(
    tmp_path: Path,
) -> None:
    """Done when: a program with a shared Store under store-guard-mutex shows guard waits on
    the right thread. `second` calls once `first` is inside Wasm (its host callback said so):
    the shim logs the wait in the guard's mutex on `second`, overlapping `first`'s time inside
    Wasm and ending as it leaves; `first` never waits."""
    if native.unavailable_reason():
        pytest.skip(native.UNAVAILABLE_NO_CC)
    out = tmp_path / "part.json"
    run = subprocess.run([sys.executable, "-c", PROGRAM, str(out), str(WAT / "mark.wat")],
                         capture_output=True, text=True, timeout=120, cwd=REPO)  # fmt: skip
    assert run.returncode == 0, run.stderr
    tl = model.Timeline()
    tl.add(read_as(model.Part, json.loads(out.read_text()), "the part"))
    tracks = {t["name"]: t for t in tl.tracks}
    first, second = tracks["first"], tracks["second"]
    assert not [s for s in first["spans"] if s[0] == "guard-wait"]
    (wait,) = [s for s in second["spans"] if s[0] == "guard-wait"]
    inside = [s for s in first["spans"] if s[0] == "wasm-released"]
    overlap = sum(max(0, min(wait[2], b) - max(wait[1], a)) for _, a, b in inside)
    assert overlap >= 0.9 * (wait[2] - wait[1])  # it waited while `first` was inside Wasm
    assert wait[2] <= max(b for _, _, b in inside) + 1_000_000  # and got in as `first` left
