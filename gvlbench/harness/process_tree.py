"""The traced program's whole process tree, found through /proc, so that none of it outlives
the trace.

Killing the program's process group misses what it started in a session of its own (a
daemon, `start_new_session=True`, a non-Python helper the hook's watchdog is not in). While
the trace runs, the harness is the tree's child subreaper (Linux's PR_SET_CHILD_SUBREAPER):
a process whose parent ends is handed to the harness instead of init, so after the program
ends everything it left is still a descendant, found by parent pid and killed. Elsewhere
than Linux these are no-ops, and only the program's group is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from collections import defaultdict

from gvlbench.harness import procs

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> None:
    """Orphans of this process's descendants are re-parented to it, not to init."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _table() -> list[tuple[int, int, bool]]:
    """(pid, parent pid, a zombie) for every process, from /proc ([] without it)."""
    return [(pid, int(fields[1]), fields[0] == b"Z") for pid, fields in procs.stats()]


def descendants(root: int) -> list[int]:
    """Every live process below `root`, by parent pid (zombies are dead already)."""
    children: dict[int, list[int]] = defaultdict(list)
    for pid, ppid, zombie in _table():
        if not zombie:
            children[ppid].append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_and_kill(root: int, rounds_s: float = 5.0) -> set[int]:
    """Stop every process below `root` (a stopped process cannot fork), round after round
    until a round finds no new one (or `rounds_s` pass), then SIGKILL them all; the pids.
    Nothing is reaped here: whose dead children they are decides how (the keeper's or the
    harness's own, see kill_descendants)."""
    stopped: set[int] = set()
    deadline = time.monotonic() + rounds_s
    while time.monotonic() < deadline:
        found = [pid for pid in descendants(root) if pid not in stopped]
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
                stopped.add(pid)
    for pid in stopped:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return stopped


def kill_descendants(root: int) -> list[int]:
    """SIGKILL every process below `root` (this process: the harness, without a keeper),
    then reap its own dead children (orphans of the tree, re-parented to it); the pids."""
    killed = stop_and_kill(root)
    for pid, ppid, _ in _table():  # by pid: the harness's own Popen children are reaped
        if ppid == root:  # by subprocess, and none is alive while the program's tree dies
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG if pid not in killed else 0)
    return sorted(killed)
