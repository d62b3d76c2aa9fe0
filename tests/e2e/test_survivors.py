"""Nothing outlives a SIGKILLed harness, and nothing already written is lost.

SIGKILL runs no code in the harness. Each test starts the real CLI with a marker in its
environment (every process below it inherits it), waits until the set-up it is about is
running and a results file is written, kills the harness with SIGKILL, and polls: no process
with the marker may be left after a few seconds (the keeper, harness/keeper_process.py, kills
the tree), the results file must still load, and no temporary folder of the harness is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from gvlbench.results import load
from tests.conftest import processes_with

GONE_WITHIN_S = 3.0  # the keeper notices at once; a loaded box may take a moment to kill


def until(check: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `check` until it holds or `timeout_s` passes (never a blind sleep)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Harness:
    """The real CLI with a marker, a private TMPDIR, killed with SIGKILL by the test."""

    def __init__(self, tmp_path: Path, args: list[str]):
        self.marker = f"GVLBENCH_TEST_MARK={uuid.uuid4()}"
        key, value = self.marker.split("=", 1)
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir()
        env = {**os.environ, key: value, "TMPDIR": str(self.tmp)}
        self.proc = subprocess.Popen([sys.executable, "-m", "gvlbench", *args], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip

    def kill(self) -> str:
        """SIGKILL, and what the harness said before it died."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return self.proc.stderr.read().decode() if self.proc.stderr else ""

    def survivors(self) -> list[str]:
        """Every process with the marker still alive after the keeper's grace."""
        until(lambda: not processes_with(self.marker), GONE_WITHIN_S)
        return [_cmdline(pid) for pid in processes_with(self.marker)]

    def cleanup(self) -> None:
        for pid in processes_with(self.marker):  # a failing test leaves none running
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return f"pid {pid} (gone)"


def _worker_runs(marker: str) -> bool:
    return any("gvlbench.worker" in _cmdline(pid) for pid in processes_with(marker))


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


# What a traced program leaves behind, each written to `ready` once it runs: a plain os.fork
# child, a double-fork daemon with its descriptors open and closed, a `sleep` in its own
# session. The program itself then waits to be killed.
SETUPS = {
    "os.fork child": """
if os.fork() == 0:
    time.sleep(1000)
    os._exit(0)
""",
    "double-fork daemon": """
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1000)
    os._exit(0)
""",
    "double-fork daemon, descriptors closed": """
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.closerange(0, 1024)
        time.sleep(1000)
    os._exit(0)
""",
    "sleep in its own session": """
subprocess.Popen(["sleep", "1000"], start_new_session=True)
""",
}
PROGRAM = """
import os, subprocess, sys, time
import wasmtime
wasmtime.Store()
{setup}
open(sys.argv[1], "w").close()
time.sleep(1000)
"""


@pytest.mark.parametrize("setup", SETUPS)
def test_nothing_a_traced_program_started_outlives_a_killed_trace(tmp_path: Path,
                                                                   setup: str) -> None:  # fmt: skip
    script, ready = tmp_path / "prog.py", tmp_path / "ready"
    script.write_text(PROGRAM.format(setup=SETUPS[setup]))
    out, records = tmp_path / "trace.json", tmp_path / "records"
    harness = Harness(tmp_path, ["trace", "-q", "--json", str(out), "--records", str(records),
                                 "--", str(script), str(ready)])  # fmt: skip
    try:
        assert until(lambda: ready.exists() and out.exists(), 120), harness.kill()
        said = harness.kill()
        assert harness.survivors() == [], f"{setup}: outlived the harness"
    finally:
        harness.cleanup()
    assert "Traceback" not in said
    rows = load(out).trace
    assert any(r["kind"] == "process" for r in rows), rows  # what was traced is kept
    assert list(records.glob("proc-*.jsonl")), "the records asked for are kept"
    assert list(harness.tmp.iterdir()) == [], "a temporary folder outlived the harness"


# A --setup that forks a daemon, in every measuring child: the daemon of a child that ended
# is gone while gvlbench runs on, and none outlives it.
FORKING_SETUP = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(os.path.join({pids!r}, str(os.getpid())), "w").close()
        time.sleep(1000)
    os._exit(0)
"""
# run: 20 rounds of ~70 ms keep its speedup child running for a second or more after its
# daemon is written, when the test looks (within 50 ms); 200 took 15-45 s to no end
COMMANDS = {
    "run": ["run", "--stmt", "1", "--threads", "1", "--processes", "1", "--values", "1",
            "--rounds", "20", "--progress-repeats", "0", "--no-phases"],
    "race": ["race", "--stmt", "1", "--threads", "2", "--trials", "20", "--duration", "1"],
    "profile": ["profile", "--stmt", "1", "--budget", "4", "--rounds", "3"],
}  # fmt: skip


def _started(pids: Path) -> list[int]:
    return [int(p.name) for p in pids.iterdir()]


@pytest.mark.parametrize("command", COMMANDS)
def test_a_forking_setup_leaves_nothing_running(tmp_path: Path, command: str) -> None:
    pids, out = tmp_path / "pids", tmp_path / "out.json"
    pids.mkdir()
    setup = FORKING_SETUP.format(pids=str(pids))
    harness = Harness(tmp_path, [*COMMANDS[command], "--setup", setup, "--json", str(out)])
    try:
        assert until(lambda: len(_started(pids)) >= 2, 180), harness.kill()
        # the code probe's daemon (and each finished child's) died with its child: at most
        # the running child's own is alive
        assert len([pid for pid in _started(pids) if _alive(pid)]) <= 1
        assert until(out.exists, 180), harness.kill()
        said = harness.kill()
        assert harness.survivors() == [], f"{command}: outlived the harness"
    finally:
        harness.cleanup()
    assert "Traceback" not in said
    assert [pid for pid in _started(pids) if _alive(pid)] == []
    load(out)  # the results file written before the kill is whole


@pytest.mark.parametrize(
    "args",
    [["verify", "--repeat", "50"],
     ["race", "--shared-store", "--threads", "2", "--trials", "5", "--duration", "3"]],
    ids=["verify", "race"],
)  # fmt: skip
def test_a_killed_measuring_command_leaves_nothing_and_keeps_its_file(
    tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "out.json"
    harness = Harness(tmp_path, [*args, "--json", str(out)])
    try:
        assert until(out.exists, 240), harness.kill()  # a first job is done and written
        assert until(lambda: _worker_runs(harness.marker), 60), "no child ran after the first"
        harness.kill()
        assert harness.survivors() == []
    finally:
        harness.cleanup()
    load(out)
