"""Ctrl-C: the harness stops, its measuring child dies with it, and what was measured stays."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment carries `marker` (the harness's children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return found


def _default_sigint() -> None:
    """Ctrl-C as a terminal delivers it. A suite started in the background (`make test &`,
    nohup) hands its children SIGINT ignored, and Python then never raises
    KeyboardInterrupt: the harness would run on and the test would judge nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_kills_the_measuring_child_and_keeps_the_results_written(tmp_path: Path) -> None:
    out = tmp_path / "race.json"
    marker = f"GVLBENCH_TEST_MARK={uuid.uuid4()}"
    key, value = marker.split("=", 1)
    harness = subprocess.Popen(
        [sys.executable, "-m", "gvlbench", "race", "--per-thread-store", "--threads", "2",
         "--trials", "3", "--duration", "3", "--json", str(out)],
        env={**os.environ, key: value}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=_default_sigint,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline:  # trial 1 is done and written
        time.sleep(0.1)
    assert out.exists(), "the first trial never wrote its results"
    time.sleep(1.0)  # trial 2's child is running now
    assert len(_processes_with(marker)) >= 2, "expected the harness and a measuring child"
    harness.send_signal(signal.SIGINT)
    _, stderr = harness.communicate(timeout=30)
    assert harness.returncode == 1, stderr
    assert "aborted" in stderr and "Traceback" not in stderr
    time.sleep(0.5)
    assert _processes_with(marker) == [], "a measuring child outlived the harness"
    trials = json.loads(out.read_text())["gvlbench"]["race"]
    assert len(trials) >= 1 and trials[0]["trial_status"] == "survived"
