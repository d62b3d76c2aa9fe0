"""Spawn measuring children with a timeout and classify how each one ended.

A child runs in its own session (so a timeout kills its whole process tree, pyperf's workers
included) with core dumps off, started by the keeper (keeper.py), so that what it leaves
running is killed when it ends and nothing of it outlives the harness. Its end is one of: ok
(answered), raised (answered with an error), crashed (killed by a signal: its name, and the
Rust panic location when stderr has one), hung (timed out and killed), failed (exited non-zero
without answering). Nothing a child does can raise out of here except our own bugs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from gvlbench.answers import Answer, ChildError, parse_answer, parse_error
from gvlbench.harness import keeper, machine, procs
from gvlbench.protocol import STARTED_MARKER

A = TypeVar("A", bound=Answer)
STDERR_TAIL_LINES = 12
_PANIC = re.compile(r"panicked at (?:[^\s:]*/)?([^\s/:]+):(\d+)(?::\d+)?")
_STARTED = re.compile(re.escape(STARTED_MARKER) + r" ([0-9.]+)")


@dataclass(frozen=True)
class ChildOutcome:
    """How one child ended. `answer` is its typed answer (answers.py) when it answered ok
    (an ok answer with a non-zero exit is `raised`, its answer kept); `error` is what a child
    that raised said. Experiments record these, never the JSON they came from."""

    status: str  # ok | raised | crashed | hung | deadlocked | failed
    returncode: int | None
    duration_s: float
    answer: Answer | None = None
    error: ChildError | None = None
    signal: str | None = None
    panic: str | None = None
    stderr_tail: tuple[str, ...] = field(default_factory=tuple)
    after_start_s: float | None = None  # from the child's start marker to its end
    # deadlocked: every thread's Python stack (faulthandler), each thread's innermost frame,
    # and how long the child used no CPU before it was killed
    stacks: str = ""
    threads: tuple[str, ...] = ()
    idle_s: float | None = None
    # what the machine gave the child while it ran (harness/machine.py); None: unknown
    machine: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def answer_as(self, cls: type[A]) -> A:
        """The answer, as the kind its task asked for (the runner failed any child that
        answered another kind, so a mismatch here is a bug of ours: TypeError)."""
        if not isinstance(self.answer, cls):
            raise TypeError(f"expected a {cls.kind} answer, got {self.answer!r:.80}")
        return self.answer

    def describe(self) -> str:
        """One line a person can read: how the child ended and why."""
        if self.status == "ok":
            return "ok"
        if self.status == "crashed":
            where = f", panic at {self.panic}" if self.panic else ""
            return f"crashed ({self.signal}{where})"
        if self.status == "hung":
            return f"hung (killed after {self.duration_s:.0f} s)"
        if self.status == "deadlocked":
            seen = "; ".join(self.threads) or "no Python stacks (a non-Python worker)"
            return f"deadlocked (no CPU for {self.idle_s or 0:.0f} s; threads: {seen})"
        if self.status == "raised" and self.error:
            return f"raised {self.error.type}: {self.error.message}"
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
            **({"machine": self.machine} if self.machine else {}),
            # not "threads": failure rows carry the thread count under that key
            **(
                {
                    "stacks": self.stacks,
                    "stalled_threads": list(self.threads),
                    "idle_s": self.idle_s,
                }
                if self.status == "deadlocked"
                else {}
            ),
        }


def worker_argv(python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", "gvlbench.worker"]


def run_child(
    argv: Sequence[str],
    task: dict[str, Any] | None,
    timeout_s: float,
    env: dict[str, str] | None = None,
) -> ChildOutcome:
    """Run one child to its end, feeding `task` as JSON on stdin; never raises for its failures."""
    start = time.monotonic()
    counters = machine.counters()
    proc = keeper.spawn(argv, env=env)
    payload = json.dumps(task).encode() if task is not None else b""
    watch = _CpuWatch(proc.pid, deadlock_after_s())
    ended = ""  # "" | hung | deadlocked
    first = True
    try:
        while True:
            try:
                out, err = proc.communicate(payload if first else None, timeout=POLL_S)
                break
            except subprocess.TimeoutExpired:
                first = False
            if time.monotonic() - start >= timeout_s:
                ended = "hung"
            elif watch.stalled():
                ended = "deadlocked"
                _dump_stacks(proc.pid)
            if ended:
                _kill_tree(proc.pid)
                out, err = proc.communicate()
                break
    except BaseException:  # Ctrl-C, SIGTERM (or our own bug): the child and its workers die
        _kill_tree(proc.pid)
        proc.wait()
        raise
    kind = str(task.get("kind", "")) if task else ""
    outcome = classify(proc.returncode, out, err, time.monotonic() - start, ended == "hung",
                       kind)  # fmt: skip
    outcome = replace(outcome, machine=machine.share(counters, getattr(proc, "cpu_s", None)))
    if ended == "deadlocked":
        outcome = _deadlocked(outcome, err, watch.idle_s)
    m = _STARTED.search(err.decode("utf-8", "replace"))
    if m:
        outcome = replace(outcome, after_start_s=max(0.0, time.time() - float(m.group(1))))
    return outcome


POLL_S = 0.5
DEADLOCK_ENV = "GVLBENCH_DEADLOCK_S"
DEADLOCK_S = 10.0
# A child counts as stalled while its processes together use under this share of one core:
# a thread waiting for the GIL wakes every 5 ms to ask again, which costs a little CPU.
STALL_CPU_SHARE = 0.02
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def deadlock_after_s() -> float:
    """Seconds of no CPU after which a child is deadlocked (GVLBENCH_DEADLOCK_S; 0: never)."""
    try:
        return max(0.0, float(os.environ.get(DEADLOCK_ENV, DEADLOCK_S)))
    except ValueError:
        return DEADLOCK_S


class _CpuWatch:
    """The CPU time of a child's whole session (its pyperf workers included), read from
    /proc: flat for `after_s` while the child has not ended means nothing in it can move,
    which is a deadlock (two threads waiting on each other, a callback waiting for a lock its
    caller holds), not a slow call. Off where /proc is absent or `after_s` is 0."""

    def __init__(self, session: int, after_s: float):
        self.session, self.after_s = session, after_s
        self._since = time.monotonic()
        self._cpu_at_since = self._cpu()

    @property
    def idle_s(self) -> float:
        return time.monotonic() - self._since

    def stalled(self) -> bool:
        if not self.after_s or self._cpu_at_since is None:
            return False
        cpu = self._cpu()
        if cpu is None:
            return False
        idle = self.idle_s
        if cpu - self._cpu_at_since > STALL_CPU_SHARE * max(idle, POLL_S):
            self._since, self._cpu_at_since = time.monotonic(), cpu
            return False
        return idle >= self.after_s

    def _cpu(self) -> float | None:
        """Seconds of CPU (user + system) of every live process in the child's session."""
        if not os.path.isdir("/proc"):
            return None
        total = 0
        for _, fields in procs.stats():
            if int(fields[3]) == self.session:  # fields after "(comm)": state ppid pgrp sid
                total += int(fields[11]) + int(fields[12])  # utime stime
        return total / _CLK_TCK


def _dump_stacks(pid: int) -> None:
    """Ask every process of the child's group for its threads' Python stacks (the Python
    worker registers faulthandler on SIGUSR1), and give them a moment to write."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGUSR1)
    time.sleep(0.5)


_THREAD = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-f]+)", re.MULTILINE)
_FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')


def _deadlocked(outcome: ChildOutcome, stderr: bytes, idle_s: float) -> ChildOutcome:
    """The outcome of a child killed for a deadlock: its threads' stacks kept whole, and one
    line naming each thread's innermost frame."""
    text = stderr.decode("utf-8", "replace")
    start = _THREAD.search(text)
    stacks = text[start.start() :] if start else ""
    threads = []
    for block in re.split(r"\n(?=(?:Current thread|Thread) 0x)", stacks):
        head = _THREAD.match(block)
        frame = _FRAME.search(block)
        if head and frame:
            threads.append(f"{head.group(1)} in {frame.group(3)} "
                           f"({os.path.basename(frame.group(1))}:{frame.group(2)})")  # fmt: skip
    return replace(outcome, status="deadlocked", stacks=stacks, threads=tuple(threads),
                   idle_s=idle_s)  # fmt: skip


def _kill_tree(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def classify(
    returncode: int,
    stdout: bytes,
    stderr: bytes,
    duration_s: float,
    hung: bool = False,
    kind: str = "",
) -> ChildOutcome:
    """How the child ended, from its exit and its last line of stdout; `kind` (the task's)
    is the only kind of answer it may give."""
    text = stderr.decode("utf-8", "replace")
    lines = (ln for ln in text.splitlines() if ln.strip() and not ln.startswith(STARTED_MARKER))
    tail = tuple(lines)[-STDERR_TAIL_LINES:]
    panic = panic_location(text)
    common = {"returncode": returncode, "duration_s": duration_s, "stderr_tail": tail}
    if hung:
        return ChildOutcome("hung", panic=panic, **common)
    if returncode < 0:
        return ChildOutcome("crashed", signal=signal_name(-returncode), panic=panic, **common)
    doc = _parse_answer(stdout)
    if doc is None:
        return ChildOutcome("failed", panic=panic, **common)
    try:
        answer = parse_answer(doc)
        if answer is not None and kind and answer.kind != kind:
            raise ValueError(f"a {answer.kind} answer to a {kind} task")
    except ValueError as exc:  # a renamed or mistyped key: this child's failure, said so
        tail = (*tail, f"answer breaks the protocol: {exc}")[-STDERR_TAIL_LINES:]
        common["stderr_tail"] = tail
        return ChildOutcome("failed", panic=panic, **common)
    if answer is not None and returncode == 0:
        return ChildOutcome("ok", answer=answer, panic=panic, **common)
    error = parse_error(doc) if answer is None else ChildError("exit", f"code {returncode}")
    return ChildOutcome("raised", answer=answer, error=error, panic=panic, **common)


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
