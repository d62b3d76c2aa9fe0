"""`gvlbench trace` and the traced program as a process: its output relayed, what it leaves
running killed, and the trace interrupted while it checks its race commands."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gvlbench.trace.program import Program
from tests.e2e.test_trace import _trace, _write

SLOW_CHECK = """
import os
import threading
import time

import wasmtime

WAT = '''(module (func (export "spin") (param i32)
  (loop $l (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br_if $l (local.get 0)))))'''


def engine():
    if not os.environ.get("GVLBENCH_TRACE_DIR"):
        time.sleep(120)  # slow only where the race command is checked, outside the trace
    return wasmtime.Engine()


def main():
    store = wasmtime.Store(engine())
    spin = wasmtime.Instance(store, wasmtime.Module(store.engine, WAT), []).exports(store)["spin"]

    def work():
        for _ in range(20):
            spin(store, 2_000_000)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_while_the_race_command_is_checked_keeps_and_reports(
    tmp_path: Path, signum: int
) -> None:
    """Ctrl-C or SIGTERM during the checks (which may take minutes) lost everything: the
    results are written before the checks, and an interrupt ends them, reports, exits 1."""
    script, results = _write(tmp_path, "slow.py", SLOW_CHECK), tmp_path / "trace.json"
    cli = subprocess.Popen(
        [sys.executable, "-m", "gvlbench", "trace", "-q", "--json", str(results), "--", script],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        _until_written(results, cli)  # the program ended; the command is being checked
        cli.send_signal(signum)
        out, err = cli.communicate(timeout=60)
    finally:
        cli.kill()
    assert cli.returncode == 1, err
    assert err.splitlines()[-1] in ("gvlbench: error: aborted",
                                    "gvlbench: error: terminated by SIGTERM; results measured "
                                    "so far are kept")  # fmt: skip
    assert "shared with overlap" in out and "interrupted by" in out
    rows = json.loads(results.read_text())["gvlbench"]["trace"]
    (finding,) = [r for r in rows if r["kind"] == "finding"]
    assert finding["hazard"] == "shared" and not finding["race"]["ready"]
    (summary,) = [r for r in rows if r["kind"] == "summary"]
    name = signal.Signals(signum).name
    assert summary["interrupted"] == f"{name} while the race commands were checked"


def _until_written(path: Path, cli: subprocess.Popen[str]) -> None:
    """Until the results file holds a finding with its race command."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and cli.poll() is None:
        try:
            rows = json.loads(path.read_text())["gvlbench"]["trace"]
        except (OSError, ValueError):
            rows = []
        if any(r["kind"] == "finding" and r["race"] for r in rows):
            time.sleep(0.5)  # the check's child is starting
            return
        time.sleep(0.1)
    raise AssertionError(f"no race command written: {cli.poll()}")


def test_the_programs_output_is_relayed_whole_in_blocks_of_lines() -> None:
    """200,000 lines relayed one at a time took 16 s (0.26 s untraced) and held the program
    up: they come in blocks of whole lines now, none lost, none cut, in order; the stderr's
    tail and a Rust panic's site are still read from them."""
    code = (
        "import sys\n"
        "for i in range(20000): print('line', i)\n"
        "sys.stderr.write('panicked at src/stackwalk.rs:265:9:\\n')\n"
        "sys.stderr.write('partial')\n"
    )
    relayed: list[tuple[str, bool]] = []

    def relay(lines: str, is_err: bool) -> None:  # a console slower than the program
        relayed.append((lines, is_err))
        time.sleep(0.002)

    program = Program([sys.executable, "-c", code], dict(os.environ, PYTHONUNBUFFERED="1"),
                      relay)  # fmt: skip
    end = program.finish()
    out = [lines for lines, is_err in relayed if not is_err]
    assert "\n".join(out).split("\n") == [f"line {i}" for i in range(20000)]
    assert len(out) < 20000 // 4  # what piled up meanwhile goes at once (it went a line a time)
    assert [lines for lines, is_err in relayed if is_err][-1] == "partial"
    assert (end.returncode, end.panic, end.stderr_tail[-1]) == (0, "stackwalk.rs:265", "partial")


LEAVES_RUNNING = """
import subprocess
import sys

import wasmtime

wasmtime.Store().gc()
pids = [subprocess.Popen(["sleep", "1001"], start_new_session=True).pid,
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1002)"],
                         start_new_session=True).pid,
        subprocess.Popen(["sleep", "1003"]).pid]
with open(sys.argv[1], "w") as f:
    f.write(" ".join(map(str, pids)))
"""


def test_what_the_program_leaves_running_is_killed_in_any_session(tmp_path: Path) -> None:
    """hang.py: a `sleep` the program started in a session of its own outlived the trace
    (only the program's group was killed), and held its pipes: two 5 s waits at the end."""
    script, pids_file = _write(tmp_path, "leaves.py", LEAVES_RUNNING), tmp_path / "pids"
    code, rows = _trace("--", script, str(pids_file))
    pids = [int(p) for p in pids_file.read_text().split()]
    try:
        assert code == 0 and rows["program"][0]["returncode"] == 0
        assert [pid for pid in pids if _alive(pid)] == []
        assert rows["program"][0]["left_running"] >= 2  # the group's own may be gone first
    finally:  # a test that fails leaves none running either (its own, by pid and command)
        for pid in pids:
            with contextlib.suppress(OSError):
                if _alive(pid) and b"100" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
