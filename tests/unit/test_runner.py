"""Classification of how a child ended, with real children: abort, segfault, hang, exception."""

from __future__ import annotations

import sys
import time

from gvlbench.answers import BenchAnswer
from gvlbench.harness.runner import classify, panic_location, run_child


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_a_real_abort_is_a_crash_with_its_signal() -> None:
    out = run_child(_python("import os; os.abort()"), None, timeout_s=30)
    assert (out.status, out.signal) == ("crashed", "SIGABRT")
    assert out.describe() == "crashed (SIGABRT)"


def test_a_real_segfault_is_a_crash_with_its_signal() -> None:
    out = run_child(_python("import ctypes; ctypes.string_at(0)"), None, timeout_s=30)
    assert (out.status, out.signal) == ("crashed", "SIGSEGV")


def test_a_real_hang_is_killed_with_its_children() -> None:
    code = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    out = run_child(_python(code), None, timeout_s=1)
    assert out.status == "hung"
    assert out.describe() == "hung (killed after 1 s)"


def test_a_real_exception_without_an_answer_is_a_failure_with_its_stderr() -> None:
    out = run_child(_python("raise KeyError('boom')"), None, timeout_s=30)
    assert (out.status, out.returncode) == ("failed", 1)
    assert out.stderr_tail[-1] == "KeyError: 'boom'"
    assert "KeyError: 'boom'" in out.describe()


def test_an_answer_with_an_error_is_raised() -> None:
    answer = "{'ok': False, 'error': {'type': 'Trap', 'message': 'x'}}"
    code = f"import json, sys; print(json.dumps({answer})); sys.exit(1)"
    out = run_child(_python(code), None, timeout_s=30)
    assert out.status == "raised"
    assert out.describe() == "raised Trap: x"


def test_the_task_reaches_the_child_on_stdin_and_the_answer_comes_back() -> None:
    """The task in on stdin, its answer back typed (a bench answer carrying the task)."""
    code = ("import json, sys; t = json.load(sys.stdin); "
            "print(json.dumps({'ok': True, 'kind': 'bench', 'benchmark': t}))")  # fmt: skip
    out = run_child(_python(code), {"kind": "bench", "n": 3}, timeout_s=30)
    assert out.ok and out.answer == BenchAnswer(benchmark={"kind": "bench", "n": 3})


def test_a_rust_panic_location_is_extracted() -> None:
    text = (
        "thread '<unnamed>' panicked at "
        "crates/wasmtime/src/runtime/vm/traphandlers/backtrace.rs:265:9:\nassertion failed"
    )
    assert panic_location(text) == "backtrace.rs:265"
    assert panic_location("thread 'main' panicked at src/stackwalk.rs:265:5:") == "stackwalk.rs:265"
    assert panic_location("no panic here") is None
    out = classify(-6, b"", text.encode(), 1.0)
    assert out.describe() == "crashed (SIGABRT, panic at backtrace.rs:265)"


def test_garbage_on_stdout_is_not_an_answer() -> None:
    assert classify(0, b"not json\n", b"", 0.1).status == "failed"
    assert classify(0, b"[1, 2]\n", b"", 0.1).status == "failed"


_DEADLOCK = """
import faulthandler, signal, threading
faulthandler.register(signal.SIGUSR1, all_threads=True)
lock = threading.Lock()
def grab():
    with lock:
        lock.acquire()  # waits for itself: no thread can ever move
t = threading.Thread(target=grab)
t.start()
t.join()
"""
_BUSY = "import time\nt = time.time()\nwhile time.time() - t < 4: pass\nprint('{}')"


def test_a_child_whose_cpu_stands_still_is_deadlocked_with_its_stacks(monkeypatch) -> None:
    monkeypatch.setenv("GVLBENCH_DEADLOCK_S", "2")
    start = time.monotonic()
    outcome = run_child([sys.executable, "-c", _DEADLOCK], None, timeout_s=60)
    assert outcome.status == "deadlocked" and time.monotonic() - start < 15
    assert len(outcome.threads) == 2 and any("in grab" in t for t in outcome.threads)
    assert "deadlocked (no CPU for" in outcome.describe() and "in grab" in outcome.describe()
    assert "lock.acquire()" in outcome.stacks or "line 7 in grab" in outcome.stacks
    assert outcome.to_json()["stalled_threads"] == list(outcome.threads)


def test_a_busy_child_is_never_deadlocked(monkeypatch) -> None:
    monkeypatch.setenv("GVLBENCH_DEADLOCK_S", "2")
    outcome = run_child([sys.executable, "-c", _BUSY], None, timeout_s=60)
    assert outcome.status != "deadlocked" and outcome.duration_s >= 4
