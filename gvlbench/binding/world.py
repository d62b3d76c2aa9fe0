"""What a Store lives in besides its module: engine limits and a WASI world.

`engine_for` configures the engine a target's limits need (fuel, epoch interruption) and,
for an epoch deadline, keeps one daemon thread ticking that engine's epoch every millisecond,
so `epoch_deadline_ms` is wall-clock milliseconds. `prepare_store` applies a target's limits
to a new Store and gives it its WASI context. A WASI program's stdout and stderr go to files
of this process's own (`Output`), one pair per embedding, rewritten on every instantiation,
so nothing a program prints reaches the terminal or interleaves with another thread's.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path

import wasmtime

from gvlbench.binding import internals
from gvlbench.protocol import Target

EPOCH_TICK_S = 0.001
_TICKING: set[int] = set()
_TICKING_LOCK = threading.Lock()


def engine_for(target: Target) -> wasmtime.Engine:
    """An engine configured for the target's limits (a plain one when it has none)."""
    if not target.limits.fuel and not target.limits.epoch_deadline_ms:
        return wasmtime.Engine()
    config = wasmtime.Config()
    config.consume_fuel = bool(target.limits.fuel)
    config.epoch_interruption = bool(target.limits.epoch_deadline_ms)
    engine = wasmtime.Engine(config)
    if target.limits.epoch_deadline_ms:
        _tick(engine)
    return engine


def _tick(engine: wasmtime.Engine) -> None:
    """One daemon thread per engine that advances its epoch every EPOCH_TICK_S."""
    with _TICKING_LOCK:
        if id(engine) in _TICKING:
            return
        _TICKING.add(id(engine))

    def run() -> None:
        while True:
            time.sleep(EPOCH_TICK_S)
            engine.increment_epoch()

    threading.Thread(target=run, name="gvlbench-epoch", daemon=True).start()


class Output:
    """A WASI program's stdout and stderr files, in a directory of this process's own,
    removed when the Output is collected or the process exits."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gvlbench-wasi-"))
        weakref.finalize(self, shutil.rmtree, self.dir, ignore_errors=True)
        self.stdout_path = self.dir / "stdout"
        self.stderr_path = self.dir / "stderr"

    def stdout(self) -> str:
        return self.stdout_path.read_bytes().decode("utf-8", "replace")

    def stderr(self) -> str:
        return self.stderr_path.read_bytes().decode("utf-8", "replace")


def prepare_store(store: wasmtime.Store, target: Target, output: Output | None) -> None:
    """The target's limits on `store`, and its WASI context (writing into `output`)."""
    limits = target.limits
    if limits.fuel:
        store.set_fuel(limits.fuel)
    if limits.epoch_deadline_ms:
        store.set_epoch_deadline(math.ceil(limits.epoch_deadline_ms / (EPOCH_TICK_S * 1e3)))
    if limits.max_memory_bytes:
        store.set_limits(memory_size=limits.max_memory_bytes)
    if target.wasi is not None and output is not None:
        store.set_wasi(wasi_config(target, output))


def wasi_config(target: Target, output: Output) -> wasmtime.WasiConfig:
    wasi = target.wasi
    assert wasi is not None
    config = wasmtime.WasiConfig()
    config.argv = list(wasi.args)
    config.env = [list(kv) for kv in wasi.env]
    if wasi.stdin_file:
        config.stdin_file = wasi.stdin_file
    elif wasi.stdin is not None:
        stdin = output.dir / "stdin"
        if not stdin.exists():
            stdin.write_text(wasi.stdin)
        config.stdin_file = str(stdin)
    for host, guest in wasi.preopens:
        internals.preopen_read_only(config, host, guest)
    config.stdout_file = str(output.stdout_path)
    config.stderr_file = str(output.stderr_path)
    return config


def is_wasi_import(module: str) -> bool:
    return module in ("wasi_snapshot_preview1", "wasi_unstable")
