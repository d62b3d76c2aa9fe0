"""The keeper, in this process: children it starts, what they leave, how they end.

Real children throughout (the keeper is a real process too): a child that cannot start is
the OSError Popen would raise, a child's leftovers in another session are killed when it ends
and counted, and `communicate` resumes after a timeout as Popen's does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gvlbench.harness import keeper

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def test_a_child_that_cannot_start_is_the_oserror_popen_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        keeper.spawn([str(tmp_path / "no-such-program")])


def test_what_a_child_leaves_in_another_session_dies_when_it_ends(tmp_path: Path) -> None:
    pid_file = tmp_path / "left"
    code = ("import subprocess, sys; p = subprocess.Popen(['sleep', '1000'], "
            "start_new_session=True); open(sys.argv[1], 'w').write(str(p.pid))")  # fmt: skip
    child = keeper.spawn([sys.executable, "-c", code, str(pid_file)])
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert isinstance(child, keeper.Kept) and child.left_running == 1
    assert not _alive(int(pid_file.read_text()))
    assert child.cpu_s is not None and child.cpu_s > 0


def test_communicate_times_out_and_resumes_as_popen_does() -> None:
    code = "import sys, time; data = sys.stdin.read(); time.sleep(1); print(data.upper())"
    child = keeper.spawn([sys.executable, "-c", code])
    with pytest.raises(subprocess.TimeoutExpired):
        child.communicate(b"hello", timeout=0.05)
    out, _ = child.communicate(timeout=60)
    assert out.strip() == b"HELLO" and child.returncode == 0
