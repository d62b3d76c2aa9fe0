"""The child's side of a phases task: compile, instantiate and call timed apart.

Sightglass measures the three phases of running Wasm separately; so does this, per mode and
thread count. Each round, `threads` threads (one Embedding each, on one engine) do each phase
at once:

- compile: `wasmtime.Module(engine, bytes)`, the module from the bytes read once up front;
- instantiate: a new Store with the target's limits and WASI context, then linking
  (`Embedding.instantiate`);
- call: one call on that fresh instance, held to the spec's expectation (for a WASI
  command: `_start`, its exit code and stdout), as a `run` benchmark checks every call.

A thread's time in a phase is from the moment all of them were released together (one
barrier, its release read by whichever thread arrived last) until its own work was done.
Each thread could read its own start instead, but with the lock held a thread cannot even
read the clock until the call holding the lock returns, so the wait would vanish. The price:
with several threads, a thread's time also holds how long it took to wake from the barrier and
take the lock, tens of microseconds, which only a phase that short (a nop call) notices.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime

from gvlbench.binding.embed import CommandResult, Embedding, check_outcome, make_embeddings
from gvlbench.binding.invoke import CallPath
from gvlbench.binding.measure import run_all
from gvlbench.protocol import PhasesTask, Target

PHASES = ("compile", "instantiate", "call")


def run_phases(task: PhasesTask) -> dict[str, Any]:
    """`rounds` rounds of the three phases on `threads` threads; per phase, every thread's
    seconds of every round."""
    if task.threads < 1 or task.rounds < 1:
        raise ValueError("a phases task needs at least 1 thread and 1 round")
    path = CallPath(task.call_path)
    embs = make_embeddings(task.target, task.mode, path, task.threads)
    for emb in embs:
        emb.checked_call()  # first-call costs stay out, and a wrong result fails here, plainly
    wasm = Path(task.target.wasm_path).read_bytes()
    seconds: dict[str, list[float]] = {p: [] for p in PHASES}
    released = [0.0]  # when `go` last let the threads go, read by the last thread to arrive
    go = threading.Barrier(
        task.threads, action=lambda: released.__setitem__(0, time.perf_counter())
    )
    done = threading.Barrier(task.threads)
    errors: list[BaseException] = []

    def work(emb: Embedding) -> None:
        try:
            for _ in range(task.rounds):
                for phase in PHASES:
                    body = _body(phase, emb, wasm, path)  # prepared outside the timing
                    old = (emb.store, emb.instance)  # freed after the clock, not in the phase
                    go.wait()
                    made = body()
                    seconds[phase].append(time.perf_counter() - released[0])
                    del made, old
                    done.wait()  # everyone is done before anyone prepares the next phase
        except threading.BrokenBarrierError:
            pass  # another thread failed and broke the barriers: its error is the one to report
        except BaseException as exc:  # re-raised below, in the worker's own thread
            errors.append(exc)
            go.abort()
            done.abort()

    threads = [threading.Thread(target=work, args=(e,), name=f"gvlbench-{i}", daemon=True)
               for i, e in enumerate(embs)]  # fmt: skip
    run_all(threads, errors)
    return {f"{phase}_s": seconds[phase] for phase in PHASES}


def _body(phase: str, emb: Embedding, wasm: bytes, path: CallPath) -> Callable[[], Any]:
    """One thread's work in `phase`, as a zero-argument callable."""
    if phase == "compile":
        return lambda: wasmtime.Module(emb.engine, wasm)
    if phase == "instantiate":
        return emb.instantiate
    return _call(emb, path)


def _call(emb: Embedding, path: CallPath) -> Callable[[], Any]:
    """One call on the instance `instantiate` just made, checked as a `run` checks each call.
    (`Embedding.checked_call` would not do: its prepared call is bound to the first instance.)"""
    target: Target = emb.target
    if target.is_command:
        output = emb.output
        assert output is not None  # a command has WASI, so its embedding captures output

        def command() -> CommandResult:
            return CommandResult(emb.start(), output.stdout())

        return lambda: check_outcome(target, command)
    call = emb.new_call()
    return (lambda: check_outcome(target, call)) if path.checks_results else call
