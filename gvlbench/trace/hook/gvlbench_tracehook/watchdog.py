"""No process of a traced command outlives the harness, whatever signal ends it.

The harness holds a FIFO open for writing and never writes to it. Every traced process opens
it for reading in a thread of its own (a bare `_thread`, invisible to threading.enumerate, so
a program that counts its threads is not disturbed) that blocks on read. When the harness's
end closes the FIFO (a normal end, Ctrl-C, SIGTERM or SIGKILL alike), the read returns
nothing, and the thread kills its process's group: the command's processes go with it, as a
measuring child goes with its harness (gvlbench/lifecycle.py). Only that end-of-file kills:
an error reading (the program closed the descriptor) ends the watch quietly. A child that
os.fork makes without exec has no watcher of its own; it is in its parent's group.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal


def start(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(fd, True)
    _thread.start_new_thread(_watch, (fd,))


def _watch(fd: int) -> None:
    try:
        while os.read(fd, 64):
            pass
    except OSError:
        return
    with contextlib.suppress(OSError):
        os.killpg(os.getpgrp(), signal.SIGKILL)
