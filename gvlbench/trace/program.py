"""The traced program as a child process: started, relayed, stopped, and how it ended.

It runs in its own session, as a measuring child does (harness/runner.py), so stopping it
stops its whole process group. The keeper starts it (keeper.py): whatever it leaves running
when it ends, in any session, is killed then, and nothing of it outlives the harness,
SIGKILL included. Without a keeper (not Linux) the harness is the tree's subreaper and kills
what it left (harness/process_tree.py), and the program dies with the harness. Its stdout
and stderr are read as they come and handed to `relay` in blocks of whole lines (the CLI
writes them to stderr, above the status line), and the stderr's last lines and any Rust
panic site are kept, so the report can say how the program ended: an exit code, or a signal
and where Wasmtime panicked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from gvlbench.errors import OptionError
from gvlbench.harness import keeper, process_tree
from gvlbench.harness.runner import STDERR_TAIL_LINES, panic_location, signal_name

# The line the hook writes to the program's stderr when its records file cannot grow (a full
# disk, a file-size limit): the hook's own records.LOST (the hook cannot be imported here:
# it installs itself; tests/unit/test_trace_hook.py keeps the two equal)
RECORDS_LOST = "gvlbench trace hook: could not write its records"

STOP_GRACE_S = 2.0  # after SIGINT (KeyboardInterrupt: atexit runs, records are finished)
CHUNK_BYTES = 1 << 16  # the most of the program's output read, and relayed, at once
PUMP_JOIN_S = 2.0  # for the output's last bytes, once every process that held a pipe is dead
Relay = Callable[[str, bool], None]  # (whole lines, from stderr)


@dataclass(frozen=True)
class ProgramEnd:
    status: str  # exited | killed | timed out | interrupted
    returncode: int | None
    signal: str | None
    panic: str | None
    duration_s: float
    stderr_tail: tuple[str, ...]
    left_running: int = 0  # processes it left running, killed when it ended
    records_lost: str | None = None  # the hook's line saying it could not write its records

    def describe(self) -> str:
        if self.signal:
            how = f"killed by {self.signal}" + (f" (panic at {self.panic})" if self.panic else "")
        else:
            how = f"exited with code {self.returncode}"
        if self.status == "timed out":
            how = f"stopped at --timeout ({how})"
        elif self.status == "interrupted":
            how = f"stopped when gvlbench was interrupted ({how})"
        left = (
            f"; {self.left_running} process(es) it left running killed" if self.left_running else ""
        )
        lost = f"; {self.records_lost}: the trace is incomplete" if self.records_lost else ""
        return f"{how} after {self.duration_s:.1f} s{left}{lost}"

    def row(self, command: Sequence[str]) -> dict[str, Any]:
        return {"kind": "program", "argv": list(command), "status": self.status,
                "returncode": self.returncode, "signal": self.signal, "panic": self.panic,
                "duration_s": self.duration_s, "description": self.describe(),
                "stderr_tail": list(self.stderr_tail),
                "left_running": self.left_running,
                "records_lost": self.records_lost}  # fmt: skip


class Program:
    def __init__(self, argv: Sequence[str], env: dict[str, str], relay: Relay | None):
        self.started = time.monotonic()
        self.left = 0  # processes it left running, killed at its end
        process_tree.become_subreaper()  # for a program started without a keeper
        try:
            self.proc = keeper.spawn(argv, env=env, stdin_pipe=False, no_core=False)
        except OSError as exc:
            why = exc.strerror or str(exc)
            raise OptionError(f"cannot run {argv[0]}: {why}") from None
        self.stopped = ""  # why gvlbench stopped it: timed out | interrupted
        self.tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.panic: str | None = None
        self.records_lost: str | None = None
        self._pumps = [
            threading.Thread(target=self._pump, args=(pipe, is_err, relay), daemon=True)
            for pipe, is_err in ((self.proc.stdout, False), (self.proc.stderr, True))
        ]
        for pump in self._pumps:
            pump.start()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def running(self) -> bool:
        return self.proc.poll() is None

    def _pump(self, pipe: Any, is_err: bool, relay: Relay | None) -> None:
        """Read what the program wrote as it comes, and relay it in blocks of whole lines
        (a line at a time through the CLI's console was 60 times slower than the program
        printing, and blocked it: 200,000 lines, 0.26 s untraced, 16 s traced)."""
        rest = b""
        for chunk in iter(lambda: pipe.read1(CHUNK_BYTES), b""):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1 or (len(data) if len(data) > CHUNK_BYTES else 0)
            rest = data[cut:]
            if cut:
                self._lines(data[:cut].decode("utf-8", "replace"), is_err, relay)
        if rest:
            self._lines(rest.decode("utf-8", "replace"), is_err, relay)
        pipe.close()

    def _lines(self, text: str, is_err: bool, relay: Relay | None) -> None:
        block = text.rstrip("\r\n")
        if is_err:  # the last lines, and a Rust panic's site, say how the program ended
            lines = block.splitlines()
            self.tail.extend(lines[-STDERR_TAIL_LINES:])
            self.panic = self.panic or next(filter(None, map(panic_location, lines)), None)
            self.records_lost = self.records_lost or next(
                (ln.split(" in pid ")[0] for ln in lines if ln.startswith(RECORDS_LOST)), None
            )
        if relay is not None:
            relay(block, is_err)

    def stop(self, why: str) -> None:
        """SIGINT to the whole group (Python runs its atexit: the hook finishes its records),
        then SIGKILL after a grace period."""
        self.stopped = self.stopped or why
        self._signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_S
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._signal(signal.SIGKILL)

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)

    def finish(self) -> ProgramEnd:
        """Wait for the program, kill whatever it left running (its group, and every
        process below it: the keeper's count, else harness/process_tree.py's), and say how it
        ended."""
        returncode = self.proc.wait()
        duration_s = self.elapsed_s
        self._signal(signal.SIGKILL)
        left = getattr(self.proc, "left_running", None)
        self.left = left if left is not None else len(process_tree.kill_descendants(os.getpid()))
        for pump in self._pumps:  # the pipes' last holders are dead: they end now
            pump.join(timeout=PUMP_JOIN_S)
        signame = signal_name(-returncode) if returncode < 0 else None
        status = self.stopped or ("killed" if signame else "exited")
        return ProgramEnd(status, returncode, signame, self.panic, duration_s, tuple(self.tail),
                          self.left, self.records_lost)  # fmt: skip
