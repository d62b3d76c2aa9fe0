"""No child outlives the harness, whatever signal ends it.

Ctrl-C raises KeyboardInterrupt; SIGTERM (a CI runner cancelling a job) and SIGHUP (a closed
terminal) would kill the harness outright, skipping the code that kills its running child,
and leave a measuring child at full CPU to poison every measurement after it. `install`
turns both into `Terminated`, a BaseException, so the same path as Ctrl-C runs: the runner
kills the child's whole process group (pyperf's workers included), the loop has already
written what was measured, and the CLI says so in one line.

A harness killed by SIGKILL runs no code at all; for that, the keeper (harness/keeper.py)
starts every child and kills their whole tree when the harness goes, and each pyperf worker
of a measuring child, like a short helper the harness runs itself (a WAT compiler), asks the
kernel to kill it when its parent dies (`die_with_parent`, Linux's PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1


class Terminated(BaseException):
    """The harness was asked to stop by a signal (not an error of the code under test)."""

    def __init__(self, signum: int):
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


def _raise(signum: int, frame: FrameType | None) -> None:
    for s in SIGNALS:  # once: a second signal during the clean-up must not interrupt it
        signal.signal(s, signal.SIG_IGN)
    raise Terminated(signum)


def install() -> None:
    """In the harness's main thread: SIGTERM and SIGHUP raise Terminated."""
    for s in SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: leave it
            signal.signal(s, _raise)


def die_with_parent(parent_pid: int | None = None) -> None:
    """Ask the kernel for SIGKILL when this process's parent dies (Linux; elsewhere a no-op).
    `parent_pid`: the parent expected; if it is already gone, die now."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGKILL)
