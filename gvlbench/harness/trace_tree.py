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
from collections import defaultdict

from gvlbench.harness import procs

_PR_SET_CHILD_SUBREAPER = 36
ROUNDS = 3  # what the tree forks while it is being killed is caught by the next round


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


def kill_descendants(root: int) -> list[int]:
    """SIGKILL every process below `root` (this process: the harness), then reap its own
    dead children (orphans of the tree, re-parented to it); the pids killed."""
    killed: set[int] = set()
    for _ in range(ROUNDS):
        found = [pid for pid in descendants(root) if pid not in killed]
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
    for pid, ppid, _ in _table():  # by pid: the harness's own Popen children are reaped
        if ppid == root:  # by subprocess, and none is alive while the program's tree dies
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG if pid not in killed else 0)
    return sorted(killed)
