"""Threads or processes: the same total work both ways, start-up included, with peak memory.

What a user would otherwise pick instead of releasing the lock is a process pool. So a `pool`
measurement times one whole job, `total_calls` calls of the scenario split evenly over W
workers, from nothing to done:

- threads: W threads in this process, one Store each (engine and module shared, the
  wasmtime-py way), calls made with the lock released;
- processes: a fresh spawn-context process pool of W interpreters, each importing wasmtime,
  compiling the module and making its share of the calls (spawn, not fork: forking a process
  that holds a multithreaded runtime is unsafe, and it is the default on 3.14).

Every job runs in a fresh measuring child, the executors alternating repeat by repeat (ABBA)
so the host's slow phases, which last seconds, fall on both alike; peak memory is the sum of
every process's peak RSS (the measuring child's and, for processes, each pool worker's), so
the two rows price the same thing.
"""

from __future__ import annotations

import resource
import threading
import time
from typing import Any

from gvlbench.binding.measure import run_all
from gvlbench.protocol import EXECUTORS, PoolTask, Target


def shares(total: int, workers: int) -> list[int]:
    """`total` calls split over `workers` as evenly as integers allow."""
    base, extra = divmod(total, workers)
    return [base + (i < extra) for i in range(workers)]


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _calls_in_process(target_json: dict[str, Any], mode: str, path: str, calls: int) -> int:
    """A pool worker's whole job: embed, call, report this process's peak RSS."""
    from gvlbench.bindings import driver_for
    from gvlbench.modes import Mode

    target = Target.from_json(target_json)
    (emb,) = driver_for(target).instances(target, Mode(mode), path, 1, None)
    for _ in range(calls):
        emb.checked_call()
    return _peak_rss_kib()


def _job_threads(task: PoolTask, counts: list[int]) -> list[int]:
    from gvlbench.bindings import driver_for

    embs = driver_for(task.target).instances(
        task.target, task.mode, task.call_path, len(counts), None
    )
    errors: list[BaseException] = []

    def work(emb: Any, n: int) -> None:
        try:
            for _ in range(n):
                emb.checked_call()
        except BaseException as exc:  # re-raised in the measuring thread
            errors.append(exc)

    pairs = zip(embs, counts, strict=True)
    threads = [threading.Thread(target=work, args=pair) for pair in pairs]
    run_all(threads, errors)
    return []


def _job_processes(task: PoolTask, counts: list[int]) -> list[int]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")
    args = (task.target.to_json(), str(task.mode), task.call_path)
    with ProcessPoolExecutor(len(counts), mp_context=ctx) as pool:
        futures = [pool.submit(_calls_in_process, *args, n) for n in counts]
        return [f.result() for f in futures]


def run_pool(task: PoolTask) -> dict[str, Any]:
    """The worker's side of a `pool` task: `repeats` timed jobs, then peak memory."""
    if task.executor not in EXECUTORS:
        raise ValueError(f"unknown executor {task.executor!r}")
    counts = shares(task.total_calls, task.threads)
    job = _job_threads if task.executor == "threads" else _job_processes
    if task.executor == "threads":
        from gvlbench.bindings import driver_for  # the engine's imports are not the job

        driver_for(task.target)
    walls, children_peak = [], 0
    for _ in range(task.repeats):
        t0 = time.perf_counter()
        child_rss = job(task, counts)
        walls.append(time.perf_counter() - t0)
        children_peak = max(children_peak, sum(child_rss))
    return {
        "executor": task.executor,
        "wall_s": walls,
        "peak_rss_kib": _peak_rss_kib() + children_peak,
        "calls": sum(counts),
    }
