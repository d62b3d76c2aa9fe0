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

import pytest

from tests.conftest import processes_with as _processes_with


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


# Each phase of a command that runs a child, and a command in it: the harness is signalled
# once a child of that phase is running (what a CI runner cancelling a job does).
PHASES = {
    "code probe": ["run", "--setup", "import time; time.sleep(60)", "--stmt", "1"],
    "paired speedup": ["run", "spin", "--threads", "2", "--rounds", "200", "--no-phases"],
    "race trial": ["race", "--shared-store", "--threads", "2", "--trials", "3", "--duration", "30"],
    "verify check": ["verify", "--repeat", "50"],
    "profile": ["profile", "--setup", "import time", "--stmt", "time.sleep(0.01)", "--mode",
                "released"],
}  # fmt: skip


@pytest.mark.parametrize(
    ("phase", "signum"),
    [(p, signal.SIGTERM) for p in PHASES] + [("paired speedup", signal.SIGHUP)],
)
def test_a_signalled_harness_leaves_no_child_in_any_phase(phase: str, signum: int) -> None:
    marker = f"GVLBENCH_TEST_MARK={uuid.uuid4()}"
    key, value = marker.split("=", 1)
    harness = subprocess.Popen(
        [sys.executable, "-m", "gvlbench", *PHASES[phase]], env={**os.environ, key: value},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(_processes_with(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_processes_with(marker)) >= 2, f"{phase}: no child ever ran"
        time.sleep(0.5)
        harness.send_signal(signum)
        _, stderr = harness.communicate(timeout=30)
    finally:
        if harness.poll() is None:
            harness.kill()
    assert harness.returncode == 1, stderr
    assert f"terminated by {signal.Signals(signum).name}" in stderr and "Traceback" not in stderr
    time.sleep(0.5)
    assert _processes_with(marker) == [], f"{phase}: a child outlived the harness"


def test_a_killed_harness_takes_its_children_with_it() -> None:
    """SIGKILL runs no code in the harness: the kernel kills each child (PR_SET_PDEATHSIG)
    and each pyperf-style grandchild with it."""
    marker = f"GVLBENCH_TEST_MARK={uuid.uuid4()}"
    key, value = marker.split("=", 1)
    harness = subprocess.Popen(
        [sys.executable, "-m", "gvlbench", *PHASES["paired speedup"]],
        env={**os.environ, key: value}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(_processes_with(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_processes_with(marker)) >= 2
    harness.kill()
    harness.wait()
    time.sleep(1.0)
    assert _processes_with(marker) == [], "a child outlived a SIGKILLed harness"
