"""Spawn measuring children with a timeout and classify how each one ended.

A child runs in its own session (so a timeout kills its whole process tree, pyperf's workers
included) with core dumps off. Its end is one of: ok (answered), raised (answered with an
error), crashed (killed by a signal: its name, and the Rust panic location when stderr has
one), hung (timed out and killed), failed (exited non-zero without answering). Nothing a child
does can raise out of here except our own bugs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gvlbench.answers import parse_answer
from gvlbench.lifecycle import die_with_parent
from gvlbench.protocol import STARTED_MARKER

STDERR_TAIL_LINES = 12
_PANIC = re.compile(r"panicked at (?:[^\s:]*/)?([^\s/:]+):(\d+)(?::\d+)?")
_STARTED = re.compile(re.escape(STARTED_MARKER) + r" ([0-9.]+)")


@dataclass(frozen=True)
class ChildOutcome:
    status: str  # ok | raised | crashed | hung | failed
    returncode: int | None
    duration_s: float
    answer: dict[str, Any] | None = None
    signal: str | None = None
    panic: str | None = None
    stderr_tail: tuple[str, ...] = field(default_factory=tuple)
    after_start_s: float | None = None  # from the child's start marker to its end

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        """One line a person can read: how the child ended and why."""
        if self.status == "ok":
            return "ok"
        if self.status == "crashed":
            where = f", panic at {self.panic}" if self.panic else ""
            return f"crashed ({self.signal}{where})"
        if self.status == "hung":
            return f"hung (killed after {self.duration_s:.0f} s)"
        if self.status == "raised" and self.answer:
            err = self.answer.get("error", {})
            return f"raised {err.get('type')}: {err.get('message')}"
        last = self.stderr_tail[-1] if self.stderr_tail else "no stderr"
        return f"failed (exit {self.returncode}): {last}"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "description": self.describe(),
            "returncode": self.returncode,
            "signal": self.signal,
            "panic": self.panic,
            "duration_s": self.duration_s,
            "after_start_s": self.after_start_s,
            "stderr_tail": list(self.stderr_tail),
        }


def worker_argv(python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "gvlbench.worker"]


def _child_setup(parent_pid: int) -> None:
    """In the child before it runs: no core dumps, and death with the harness (SIGKILL)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    die_with_parent(parent_pid)


def run_child(
    argv: Sequence[str],
    task: dict[str, Any] | None,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> ChildOutcome:
    """Run one child to its end, feeding `task` as JSON on stdin; never raises for its failures."""
    start = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=functools.partial(_child_setup, os.getpid()),
        env=env,
    )
    payload = json.dumps(task).encode() if task is not None else b""
    try:
        out, err = proc.communicate(payload, timeout=timeout_s)
        hung = False
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        out, err = proc.communicate()
        hung = True
    except BaseException:  # Ctrl-C (or our own bug): the child and its workers die with us
        _kill_tree(proc.pid)
        proc.wait()
        raise
    outcome = classify(proc.returncode, out, err, time.monotonic() - start, hung)
    m = _STARTED.search(err.decode("utf-8", "replace"))
    if m:
        outcome = replace(outcome, after_start_s=max(0.0, time.time() - float(m.group(1))))
    return outcome


def _kill_tree(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def classify(
    returncode: int, stdout: bytes, stderr: bytes, duration_s: float, hung: bool = False
) -> ChildOutcome:
    text = stderr.decode("utf-8", "replace")
    lines = (ln for ln in text.splitlines() if ln.strip() and not ln.startswith(STARTED_MARKER))
    tail = tuple(lines)[-STDERR_TAIL_LINES:]
    panic = panic_location(text)
    common = {"returncode": returncode, "duration_s": duration_s, "stderr_tail": tail}
    if hung:
        return ChildOutcome("hung", panic=panic, **common)
    if returncode < 0:
        return ChildOutcome("crashed", signal=signal_name(-returncode), panic=panic, **common)
    answer = _parse_answer(stdout)
    if answer is None:
        return ChildOutcome("failed", panic=panic, **common)
    try:
        parse_answer(answer)
    except ValueError as exc:  # a renamed or mistyped key: this child's failure, said so
        tail = (*tail, f"answer breaks the protocol: {exc}")[-STDERR_TAIL_LINES:]
        common["stderr_tail"] = tail
        return ChildOutcome("failed", panic=panic, **common)
    status = "ok" if answer.get("ok") and returncode == 0 else "raised"
    return ChildOutcome(status, answer=answer, panic=panic, **common)


def _parse_answer(stdout: bytes) -> dict[str, Any] | None:
    lines = stdout.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return None
    try:
        answer = json.loads(lines[-1])
    except json.JSONDecodeError:
        return None
    return answer if isinstance(answer, dict) else None


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def panic_location(stderr: str) -> str | None:
    """`stackwalk.rs:265` from a Rust panic message, or None."""
    m = _PANIC.search(stderr)
    return f"{m.group(1)}:{m.group(2)}" if m else None
