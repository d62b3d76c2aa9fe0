"""Every child the harness starts, started by the keeper, so none outlives the harness.

The keeper (keeper_process.py) is a small process the harness starts before its first child,
in a session of its own; it starts each child for the harness, is the subreaper of all of
them, and kills their whole tree when the harness ends, SIGKILL included, then removes the
temporary folders `remove_at_end` registered. `spawn` is what the harness calls instead of
subprocess.Popen: it returns a `Kept` child with the part of Popen's interface the harness
uses (pid, stdin, stdout, stderr, poll, wait, communicate, returncode), and `left_running`,
how many processes the child left behind, killed when it ended.

Where there is no keeper (not Linux, or it could not start: said once on stderr), `spawn`
falls back to subprocess.Popen with PR_SET_PDEATHSIG, as before the keeper: the children die
with the harness, what they started in other sessions may not.
"""

from __future__ import annotations

import array
import contextlib
import functools
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from gvlbench.lifecycle import die_with_parent

READY = b"R"
READY_WAIT_S = 60.0  # the keeper's start-up (a Python import) on a loaded machine
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class _Keeper:
    """The harness's end of the socket to its keeper."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        devnull = os.open(os.devnull, os.O_RDWR)
        stderr = 2 if os.environ.get("GVLBENCH_DEBUG") else devnull
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": _PACKAGE_ROOT + (os.pathsep + path if path else "")}
        argv = [sys.executable, "-m", "gvlbench.harness.keeper_process", str(theirs.fileno())]
        try:
            os.set_inheritable(theirs.fileno(), True)
            self.pid = os.posix_spawn(sys.executable, argv, env, setsid=True, file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                (os.POSIX_SPAWN_DUP2, stderr, 2)])  # fmt: skip
        finally:
            theirs.close()
            os.close(devnull)
        self.sock = ours
        self.lock = threading.Lock()
        ready, _, _ = select.select([ours], [], [], READY_WAIT_S)
        if not ready or ours.recv(1) != READY:
            ours.close()
            raise OSError("the keeper did not start")

    def send(self, request: dict[str, Any], fds: Sequence[int] = ()) -> None:
        payload = json.dumps(request).encode()
        data = len(payload).to_bytes(4, "big") + payload
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        with self.lock:
            sent = self.sock.sendmsg([data], rights)
            if sent < len(data):
                self.sock.sendall(data[sent:])


_lock = threading.Lock()
_state: dict[str, Any] = {"keeper": None, "failed": ""}


def _keeper() -> _Keeper | None:
    """The keeper of this harness, started at the first need; None where there is none."""
    with _lock:
        if _state["keeper"] is None and not _state["failed"]:
            if not sys.platform.startswith("linux") or os.environ.get("GVLBENCH_NO_KEEPER"):
                _state["failed"] = "not Linux" if not sys.platform.startswith("linux") else "off"
                return None
            try:
                _state["keeper"] = _Keeper()
            except OSError as exc:
                _state["failed"] = str(exc)
                print(f"gvlbench: warning: no keeper ({exc}): a process a child starts in "
                      "a session of its own may outlive a killed gvlbench",
                      file=sys.stderr)  # fmt: skip
        return _state["keeper"]


def _send(request: dict[str, Any], fds: Sequence[int] = ()) -> bool:
    """Hand the keeper a request; False when there is no keeper to take it."""
    keeper = _keeper()
    if keeper is None:
        return False
    try:
        keeper.send(request, fds)
    except OSError as exc:  # the keeper is gone (someone killed it): say so, go on without
        with _lock:
            _state["keeper"], _state["failed"] = None, f"it ended: {exc}"
        print(f"gvlbench: warning: the keeper ended ({exc})", file=sys.stderr)
        return False
    return True


def remove_at_end(path: Path) -> None:
    """Have the keeper remove `path` (a temporary folder the harness made) if the harness
    ends without removing it itself (SIGKILL)."""
    _send({"op": "remove", "path": str(path)})


def forget(path: Path) -> None:
    """The harness removed `path` itself: the keeper need not."""
    if _state["keeper"] is not None:
        _send({"op": "forget", "path": str(path)})


def spawn(argv: Sequence[str], env: dict[str, str] | None = None, stdin_pipe: bool = True,
          no_core: bool = True) -> Kept | subprocess.Popen[bytes]:  # fmt: skip
    """Start `argv` in a session of its own with stdout and stderr piped (and stdin piped, or
    /dev/null): through the keeper, else as a plain child. OSError when it cannot start."""
    if _keeper() is not None:
        kept = _spawn_kept(argv, env, stdin_pipe, no_core)
        if kept is not None:
            return kept
    stdin = subprocess.PIPE if stdin_pipe else subprocess.DEVNULL
    setup = functools.partial(_plain_setup, os.getpid(), no_core)
    proc = subprocess.Popen(list(argv), stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, env=env,
                            preexec_fn=setup)  # fmt: skip
    proc.left_running = proc.cpu_s = None  # type: ignore[attr-defined]
    return proc


def _plain_setup(parent_pid: int, no_core: bool) -> None:
    if no_core:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    die_with_parent(parent_pid)


def _spawn_kept(argv: Sequence[str], env: dict[str, str] | None, stdin_pipe: bool,
                no_core: bool) -> Kept | None:  # fmt: skip
    """The keeper starts the child on our pipes; None if the keeper is gone."""
    in_r, in_w = os.pipe() if stdin_pipe else (os.open(os.devnull, os.O_RDONLY), -1)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    st_r, st_w = os.pipe()
    request = {"op": "spawn", "argv": list(argv), "env": dict(os.environ if env is None else env),
               "cwd": os.getcwd(), "session": True, "no_core": no_core}  # fmt: skip
    try:
        sent = _send(request, (in_r, out_w, err_w, st_w))
    finally:
        for fd in (in_r, out_w, err_w, st_w):
            os.close(fd)
    status = _StatusPipe(st_r)
    first = status.line(None) if sent else b""
    if not first.startswith((b"P ", b"X ")):
        for fd in (in_w, out_r, err_r):
            if fd >= 0:
                os.close(fd)
        status.close()
        return None
    if first.startswith(b"X "):
        for fd in (in_w, out_r, err_r):
            if fd >= 0:
                os.close(fd)
        status.close()
        code, _, why = first[2:].decode("utf-8", "replace").partition(" ")
        raise OSError(int(code) if code.isdigit() else 0, why or "could not start")
    return Kept(list(argv), int(first[2:]), in_w, out_r, err_r, status)


class _StatusPipe:
    """The lines a sub-keeper writes about its child: `P pid`, `X errno why`, `E status left`."""

    def __init__(self, fd: int):
        self.fd, self._buffer = fd, b""

    def line(self, timeout: float | None) -> bytes | None:
        """The next line; None when none came within `timeout`; b"" at end of file."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            poller = select.poll()
            poller.register(self.fd, select.POLLIN)
            if not poller.poll(None if left is None else left * 1000):
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return b""
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Kept:
    """A child the keeper started: what the harness used of subprocess.Popen, and how many
    processes it left running and how much CPU it used, once it has ended."""

    def __init__(self, args: list[str], pid: int, stdin: int, stdout: int, stderr: int,
                 status: _StatusPipe):  # fmt: skip
        self.args, self.pid, self._status = args, pid, status
        self.stdin: IO[bytes] | None = os.fdopen(stdin, "wb") if stdin >= 0 else None
        self.stdout: IO[bytes] = os.fdopen(stdout, "rb")
        self.stderr: IO[bytes] = os.fdopen(stderr, "rb")
        self.returncode: int | None = None
        self.left_running: int | None = None  # known once it has ended
        self.cpu_s: float | None = None  # its CPU time, its children's included, once ended
        self._io: _Pumps | None = None

    def poll(self) -> int | None:
        return self._collect(0.0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._collect(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def _collect(self, timeout: float | None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        line = self._status.line(timeout)
        if line is None:
            return None
        if line.startswith(b"E "):
            status, left, cpu_s = line[2:].split()
            self.returncode = os.waitstatus_to_exitcode(int(status))
            self.left_running, self.cpu_s = int(left), float(cpu_s)
        else:  # the keeper was killed under it: so was the child
            self.returncode = -signal.SIGKILL
        self._status.close()
        return self.returncode

    def communicate(self, input: bytes | None = None,
                    timeout: float | None = None) -> tuple[bytes, bytes]:  # fmt: skip
        """Popen.communicate: feed `input`, read both pipes to their end and wait; on
        `timeout`, TimeoutExpired, and a later call goes on where this one stopped."""
        if self._io is None:
            self._io = _Pumps(self, input)
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._io.join(deadline) or self._collect(_left(deadline)) is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return self._io.result()


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class _Pumps:
    """Threads that write a child's stdin and read its stdout and stderr to their ends."""

    def __init__(self, child: Kept, data: bytes | None):
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.threads = [threading.Thread(target=_drain, args=(child.stdout, self.out),
                                         daemon=True),
                        threading.Thread(target=_drain, args=(child.stderr, self.err),
                                         daemon=True)]  # fmt: skip
        if child.stdin is not None:
            self.threads.append(threading.Thread(target=_feed, args=(child.stdin, data or b""),
                                                 daemon=True))  # fmt: skip
        for thread in self.threads:
            thread.start()

    def join(self, deadline: float | None) -> bool:
        for thread in self.threads:
            thread.join(_left(deadline))
            if thread.is_alive():
                return False
        return True

    def result(self) -> tuple[bytes, bytes]:
        return b"".join(self.out), b"".join(self.err)


def _drain(pipe: IO[bytes], into: list[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        while chunk := pipe.read1(1 << 16):  # type: ignore[attr-defined]
            into.append(chunk)
    with contextlib.suppress(OSError):
        pipe.close()


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(OSError, ValueError):
        pipe.write(data)
    with contextlib.suppress(OSError, ValueError):
        pipe.close()
