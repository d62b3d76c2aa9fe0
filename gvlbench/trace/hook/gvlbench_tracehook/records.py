"""The records: one JSON-lines file per process, each record one unbuffered write.

A record is a JSON object with `t` (its kind) and `ns` (wall-clock nanoseconds, comparable
across the processes of one command). The file is made by this process (O_EXCL, never through
a symlink: O_NOFOLLOW), readable by its owner only (it holds argv and cwd), opened with
O_APPEND, and each record goes out in a single write, so a process that aborts or is
SIGKILLed keeps every record written before it, and a reader never sees half a line except,
at worst, the last one. The kinds and their keys are in docs/results.md (gvlbench's reader is
gvlbench/report/trace.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from typing import Any

VERSION = 3  # of the records' format; the process record carries it

_state: dict[str, Any] = {"fd": None, "dir": ""}


def open_process(directory: str) -> None:
    """Open this process's file and write its `process` record. A forked child opens its own
    at its first record (one that execs at once, as subprocess's children do, writes none)."""
    _state["dir"] = directory
    _open(forked=False)
    os.register_at_fork(after_in_child=_forget)


def _forget() -> None:
    _state["fd"], _state["forked"], _state["path"] = None, True, ""


_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
NAMES = 100  # proc-PID.jsonl, then proc-PID.1.jsonl ...: a pid the system used again


def _create() -> int:
    """This process's own new file: never one that exists, never through a symlink."""
    pid = os.getpid()
    for n in range(NAMES):
        name = f"proc-{pid}.jsonl" if n == 0 else f"proc-{pid}.{n}.jsonl"
        path = os.path.join(_state["dir"], name)
        try:
            fd = os.open(path, _FLAGS | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        _state["path"] = path
        return fd
    raise FileExistsError(f"proc-{pid}.jsonl and {NAMES - 1} more exist")


def _reopen() -> int:
    """The file this process made, after the program closed its descriptor."""
    fd = os.open(_state["path"], _FLAGS)
    if os.fstat(fd).st_uid != os.geteuid():  # pragma: no cover - the folder is the user's
        os.close(fd)
        raise PermissionError("the records file changed owner")
    return fd


def _open(forked: bool) -> int:
    if os.path.dirname(_state.get("path") or "") == _state["dir"]:
        _state["fd"] = _reopen()
        return _state["fd"]
    fd = _state["fd"] = _create()
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    _write(fd, "process", v=VERSION, pid=os.getpid(), ppid=os.getppid(), argv=list(sys.argv),
           executable=sys.executable, python=".".join(map(str, sys.version_info[:3])),
           gil="enabled" if is_enabled is None or is_enabled() else "disabled", forked=forked,
           cwd=os.getcwd())  # fmt: skip
    return fd


def write(kind: str, **fields: Any) -> None:
    """One record, written now (never buffered): what a crash a moment later cannot take.
    A file the program closed under us is opened again; failing that, the record is dropped
    rather than the program's call failing."""
    if not _state["dir"]:
        return
    try:
        fd = _state["fd"]
        if fd is None:
            fd = _open(forked=_state.get("forked", False))
        _write(fd, kind, **fields)
    except OSError:
        try:
            _write(_open(forked=_state.get("forked", False)), kind, **fields)
        except OSError as exc:
            _state["dir"] = ""  # nowhere to write: stop trying, the program goes on
            _lost(exc)


# The one line the harness looks for on the program's stderr (trace/program.py): with the
# records file full (a full disk, a file-size limit) stderr is the only way left to say that
# what trace read is not all that happened.
LOST = "gvlbench trace hook: could not write its records"


def _lost(exc: OSError) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"{LOST} ({exc.strerror or exc}) in pid {os.getpid()}\n".encode())


def _write(fd: int, kind: str, **fields: Any) -> None:
    record = {"t": kind, "ns": time.time_ns(), **fields}
    data = (json.dumps(record, default=repr, separators=(",", ":")) + "\n").encode()
    while data:
        data = data[os.write(fd, data) :]


def write_lazy(kind: str, **fields: Any) -> None:
    """A record from inside the program's own call: callables among `fields` are evaluated
    here, and whatever goes wrong is a `hook-error` record, never the program's exception."""
    try:
        write(kind, **{k: v() if callable(v) else v for k, v in fields.items()})
    except Exception as exc:
        write("hook-error", where=kind, error=repr(exc))


def name_of(native_id: int) -> str:
    """A thread's name, from its native id (what records name threads by)."""
    if not native_id:
        return "(a thread entering or leaving)"
    for thread in threading.enumerate():
        if thread.native_id == native_id:
            return thread.name
    return f"thread {native_id}"
