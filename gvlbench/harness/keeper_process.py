"""The keeper: the process that outlives the harness so that nothing the harness started does.

A harness killed by SIGKILL runs no code, and PR_SET_PDEATHSIG reaches only its own children:
a grandchild in a session of its own (a daemon, `start_new_session=True`, a `sleep` a program
left behind) was re-parented to init and lived on. So the harness starts this small process
first (harness/keeper.py) and has it start every child instead of forking them itself. The
keeper is the child subreaper (PR_SET_CHILD_SUBREAPER) of everything below it, so nothing
started under it can leave its tree, however it forks or whatever session it makes; it
ignores SIGINT, SIGTERM and SIGHUP, sits in a session of its own, and watches the harness
through a socket only the harness holds. When that socket closes (the harness ended, however:
a normal exit, Ctrl-C, SIGKILL), it stops and kills its whole tree, removes the temporary
folders the harness registered, and exits.

Each child is started through a sub-keeper of its own, forked from here: the subreaper of
that child's tree alone, so when the child ends, whatever it left running (a `--setup` that
forked a daemon, a program's `sleep` in its own session) is killed then, not at the harness's
end, and the harness is told how many there were. The sub-keeper writes to a status pipe the
harness reads: `P pid` once the child runs (or `X errno message` when it could not start),
then `E waitstatus left cpu_s` when it has ended and its leftovers are dead (cpu_s: the
child's CPU time, its waited-for children's included, for harness/machine.py).

This module runs as `python -m gvlbench.harness.keeper_process FD`, FD being its end of the
socket. It imports only the standard library and the /proc reader.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import select
import shutil
import signal
import socket
import sys
import time
from typing import Any

from gvlbench.harness.process_tree import become_subreaper, stop_and_kill

_PR_SET_PDEATHSIG = 1
IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE)
DEFAULTED = (*IGNORED, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGQUIT, signal.SIGUSR1)
HEADER_BYTES = 4  # a request: its length, big-endian, then JSON; descriptors ride on the header
MAX_REQUEST_BYTES = 64 << 20
FDS_PER_SPAWN = 4  # stdin, stdout, stderr, the status pipe's write end
REAP_EVERY_S = 0.5
KILL_ROUNDS_S = 5.0  # the most spent finding a tree that keeps forking while it is stopped


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def kill_tree(root: int) -> int:
    """Stop and kill every process below `root`, reap this process's dead; how many."""
    killed = stop_and_kill(root, KILL_ROUNDS_S)
    _reap(block_s=2.0 if killed else 0.0)
    return len(killed)


def _reap(block_s: float = 0.0) -> None:
    """Collect every dead child (the killed tree's orphans come here, being re-parented to
    this subreaper), waiting up to `block_s` for ones still dying."""
    deadline = time.monotonic() + block_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.01)


def _exec_child(spec: dict[str, Any], fds: list[int], errw: int) -> None:
    """In the forked child: its descriptors, session, limits and signals, then exec; a
    failure before exec is written to `errw` as `errno message`."""
    try:
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        if spec.get("session", True):
            os.setsid()
        if spec.get("no_core", True):
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        parent = os.getppid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(127)
        for s in DEFAULTED:
            signal.signal(s, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        os.chdir(spec["cwd"])
        os.closerange(3, errw)
        os.closerange(errw + 1, os.sysconf("SC_OPEN_MAX"))
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    except BaseException as exc:
        code = exc.errno if isinstance(exc, OSError) and exc.errno else 0
        why = (exc.strerror if isinstance(exc, OSError) else None) or repr(exc)
        with contextlib.suppress(OSError):
            os.write(errw, f"{code} {why}".encode())
    os._exit(127)


def _sub_keeper(spec: dict[str, Any], fds: list[int], keeper: int) -> None:
    """In a fork of the keeper: the subreaper of one child's tree, until the child ends."""
    status_w = fds[3]
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != keeper:  # the keeper died before the request was served
        os._exit(0)
    become_subreaper()
    errr, errw = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(errr)
        _exec_child(spec, fds, errw)
    os.close(errw)
    for fd in fds[:3]:  # the child's pipes must close when the child's tree is gone
        os.close(fd)
    failed = b""
    while chunk := os.read(errr, 4096):
        failed += chunk
    os.close(errr)
    if failed:
        os.waitpid(pid, 0)
        _say(status_w, b"X " + failed)
        os._exit(0)
    _say(status_w, f"P {pid}".encode())
    cpu_s = 0.0
    while True:
        try:
            got, status, usage = os.wait4(-1, 0)
        except ChildProcessError:  # cannot happen while the child lives; say it ended
            got, status, usage = pid, signal.SIGKILL, None
        except InterruptedError:
            continue
        if got == pid:  # its CPU time, its own waited-for children's included
            cpu_s = usage.ru_utime + usage.ru_stime if usage else 0.0
            break
    left = kill_tree(os.getpid())
    _say(status_w, f"E {status} {left} {cpu_s:.6f}".encode())
    os._exit(0)


def _say(fd: int, line: bytes) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, line + b"\n")


class Keeper:
    """The keeper's state: its socket to the harness, and the folders to remove at the end."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.pid = os.getpid()
        self.paths: set[str] = set()

    def serve(self) -> None:
        """Answer requests until the harness's end closes the socket."""
        while True:
            ready, _, _ = select.select([self.sock], [], [], REAP_EVERY_S)
            _reap()
            if ready and not self._request():
                return

    def _request(self) -> bool:
        """One request; False at the harness's end (the socket closed, or broke)."""
        try:
            head, fds = _recv_head(self.sock)
        except OSError:
            return False
        if not head:
            return False
        try:
            request = json.loads(_recv_exactly(self.sock, int.from_bytes(head, "big")))
        except (OSError, ValueError):
            _close(fds)
            return False
        op = request.get("op")
        if op == "spawn" and len(fds) == FDS_PER_SPAWN:
            self._spawn(request, fds)
        elif op == "remove":
            self.paths.add(request["path"])
            _close(fds)
        elif op == "forget":
            self.paths.discard(request["path"])
            _close(fds)
        else:
            _close(fds)
        return True

    def _spawn(self, spec: dict[str, Any], fds: list[int]) -> None:
        try:
            pid = os.fork()
        except OSError as exc:
            _say(fds[3], f"X {exc.errno} {exc.strerror}".encode())
            _close(fds)
            return
        if pid == 0:
            self.sock.close()
            _sub_keeper(spec, fds, self.pid)
        _close(fds)

    def finish(self) -> None:
        """The harness is gone: nothing it started may outlive it, and nothing of its own
        is left on disk."""
        kill_tree(os.getpid())
        for path in sorted(self.paths):
            shutil.rmtree(path, ignore_errors=True)


def _recv_head(sock: socket.socket) -> tuple[bytes, list[int]]:
    fds_size = socket.CMSG_SPACE(FDS_PER_SPAWN * 4)
    data, ancdata, _, _ = sock.recvmsg(HEADER_BYTES, fds_size, socket.MSG_CMSG_CLOEXEC)
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(int.from_bytes(payload[i : i + 4], sys.byteorder, signed=True)
                       for i in range(0, usable, 4))  # fmt: skip
    if data and len(data) < HEADER_BYTES:
        data += _recv_exactly(sock, HEADER_BYTES - len(data))
    return data, fds


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    if size > MAX_REQUEST_BYTES:
        raise ValueError("request too large")
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("the harness closed the socket mid-request")
        data += chunk
    return data


def _close(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def main(argv: list[str]) -> None:
    for s in IGNORED:
        signal.signal(s, signal.SIG_IGN)
    become_subreaper()
    sock = socket.socket(fileno=int(argv[1]))
    os.set_inheritable(sock.fileno(), False)
    sock.sendall(b"R")  # ready: the harness may hand it children now
    keeper = Keeper(sock)
    try:
        keeper.serve()
    finally:
        keeper.finish()


if __name__ == "__main__":
    main(sys.argv)
