"""The child's side of a bench task: T threads on T Stores, timed by pyperf.

This process is a pyperf Runner in manager mode: pyperf re-launches `python -m
gvlbench.worker --worker --task-file F` to calibrate, warm up and measure in separate
processes, and this process folds their suite into one benchmark. A pyperf worker that dies of
a signal makes this process die of the same signal, so the harness sees the real cause.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import tempfile
from pathlib import Path
from typing import Any

from gvlbench.protocol import BenchTask, PyperfOptions, parse_task


class WorkerDied(Exception):
    def __init__(self, exitcode: int):
        super().__init__(f"pyperf worker exited {exitcode}")
        self.exitcode = exitcode


def die_like(exitcode: int) -> None:
    """Die of the signal that killed our pyperf worker, so the harness sees the real cause."""
    if exitcode < 0:
        signal.signal(-exitcode, signal.SIG_DFL)
        os.kill(os.getpid(), -exitcode)


def _runner(task: BenchTask, task_file: str):  # -> pyperf.Runner
    import pyperf

    runner = pyperf.Runner(
        metadata=task.metadata,
        program_args=("-m", "gvlbench.worker"),
        add_cmdline_args=lambda cmd, args: cmd.extend(("--task-file", task_file)),
    )
    runner.argparser.add_argument("--task-file")
    return runner


def run_bench(task: BenchTask) -> dict[str, Any]:
    _preflight(task)
    with tempfile.TemporaryDirectory(prefix="gvlbench-") as tmp:
        task_file = os.path.join(tmp, "task.json")
        Path(task_file).write_text(json.dumps(task.to_json()))
        out = os.path.join(tmp, "out.json")
        runner = _runner(task, task_file)
        runner.parse_args(
            [*_pyperf_args(task.pyperf), "--quiet", "--output", out, "--task-file", task_file]
        )
        try:
            runner.bench_time_func(task.name, _never_called_in_manager)
        except RuntimeError as exc:  # pyperf: "... failed with exit code N"
            m = re.search(r"exit code (-?\d+)", str(exc))
            if m:
                raise WorkerDied(int(m.group(1))) from None
            raise
        suite = json.loads(Path(out).read_text())
    bench = suite["benchmarks"][0]
    # Fold the suite's common metadata into the benchmark, so it stands alone when merged.
    bench["metadata"] = {**suite.get("metadata", {}), **bench.get("metadata", {})}
    return {"benchmark": bench}


def _pyperf_args(opts: PyperfOptions) -> list[str]:
    args = ["--processes", str(opts.processes), "--values", str(opts.values),
            "--warmups", str(opts.warmups), "--min-time", str(opts.min_time)]  # fmt: skip
    if opts.loops:
        args += ["--loops", str(opts.loops)]
    return [*args, "--inherit-environ", "GVLBENCH_FAULT"]  # pyperf workers get a bare env


def _never_called_in_manager(loops: int) -> float:
    raise AssertionError("the manager process never runs the timed body")


def _preflight(task: BenchTask) -> None:
    """One checked call here, before pyperf spawns anything: a wrong result or an unexpected
    exception comes back as a precise error instead of a bare worker exit code."""
    if task.code is not None:
        from gvlbench.worker.code import target_of

        target_of(task).reference()
        return
    from gvlbench.bindings import driver_for

    (emb,) = driver_for(task.target).instances(task.target, task.mode, task.call_path, 1, None)
    emb.checked_call()


def pyperf_worker() -> None:
    """Entry point of the processes pyperf spawns: build the team, let pyperf time it."""
    from gvlbench.binding.invoke import CallPath
    from gvlbench.binding.measure import ThreadTeam
    from gvlbench.bindings import driver_for

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task-file", required=True)
    task_file = pre.parse_known_args()[0].task_file
    task = parse_task(json.loads(Path(task_file).read_text()))
    assert isinstance(task, BenchTask)
    from gvlbench.binding import patches

    patches.apply(task.patches, task.mode)  # before anything touches wasmtime-py, as answer() does
    runner = _runner(task, task_file)
    if task.code is not None:
        _time_code(task, runner)
        return
    path = CallPath(task.call_path)
    embs = driver_for(task.target).instances(task.target, task.mode, path, task.threads, None)
    for emb in embs:
        emb.checked_call()  # outside the timing: first-call costs and the expectation
    # `gvlbench calls` prices the call itself: checked once above, then timed bare
    each = task.check_each_call and path.checks_results
    calls = [emb.checked_call if each else emb.call for emb in embs]
    if task.guard:
        from gvlbench.binding.guard import StoreGuard, guarded

        calls = [guarded(c, StoreGuard(f"store-{i}")) for i, c in enumerate(calls)]
    team = ThreadTeam(calls)
    runner.bench_time_func(task.name, team.run)
    team.close()


def _time_code(task: BenchTask, runner: Any) -> None:
    """T threads each running the statement; one untimed round first, so that each thread's
    per-thread setup runs in that thread before any timing."""
    from gvlbench.binding.measure import ThreadTeam
    from gvlbench.worker.code import target_of

    code = target_of(task)
    team = ThreadTeam([code.call] * task.threads)
    team.run(1)
    runner.bench_time_func(task.name, team.run)
    team.close()
