"""scripts/freethreaded.sh takes a lock on its cache: a second run waits, then reuses.

Two builds at once once broke one (the second deleted the first's source tree mid-build, and
that run's free-threaded tests skipped). Here the lock is held by the test, as a first build
would hold it, over a cache whose interpreter is already there (a stand-in that answers the
script's free-threaded probe): the script says it is waiting and prints nothing until the
lock is released, then reuses the interpreter without building.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("flock") is None, reason="no flock(1) here")


def test_a_second_build_waits_for_the_lock_then_reuses_the_first(tmp_path: Path) -> None:
    python = tmp_path / "cpython-ft" / "bin" / "python3.13t"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexit 0\n")  # the probe asks: free-threaded? yes
    python.chmod(0o755)
    lock = open(tmp_path / "freethreaded.lock", "w")  # noqa: SIM115 - held across the test
    fcntl.flock(lock, fcntl.LOCK_EX)
    env = {**os.environ, "GVLBENCH_CACHE": str(tmp_path)}
    pipe = subprocess.PIPE
    script = subprocess.Popen([str(REPO / "scripts" / "freethreaded.sh")], env=env,
                              stdout=pipe, stderr=pipe, text=True)  # fmt: skip
    try:
        assert script.stderr is not None
        said = script.stderr.readline()  # blocks until the script writes its first line
        assert "waiting for another build" in said, said
        assert script.poll() is None, "it went on without the lock"
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    out, rest = script.communicate(timeout=60)
    assert script.returncode == 0, rest
    assert out.strip() == str(python)
    assert "building" not in rest


def test_the_lock_is_free_once_the_script_ends(tmp_path: Path) -> None:
    python = tmp_path / "cpython-ft" / "bin" / "python3.13t"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\nexit 0\n")
    python.chmod(0o755)
    env = {**os.environ, "GVLBENCH_CACHE": str(tmp_path)}
    for _ in range(2):  # the second run finds no holder left by the first
        done = subprocess.run([str(REPO / "scripts" / "freethreaded.sh")], env=env,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0 and "waiting" not in done.stderr, done.stderr
        assert done.stdout.strip() == str(python)
