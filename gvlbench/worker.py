"""The measuring child: one task as JSON on stdin, one result as JSON on stdout.

    python -m gvlbench.worker < task.json > result.json

The protocol is language-neutral on purpose (a Ruby worker is planned): the task names a
compiled .wasm file, an export, its arguments, host behaviours by registry name, the mode and
the thread count; the answer is a pyperf benchmark (kind "bench") or progress samples (kind
"progress"), or {"ok": false, "error": ...}. A crash is no answer at all: the harness reads the
exit status and stderr. See docs/protocol.md.

For "bench" this process is a pyperf Runner in manager mode: pyperf re-launches this module
with `--worker` to calibrate, warm up and measure in separate processes. Anything printed on
stdout other than the answer would corrupt the protocol, so stdout is moved onto stderr first
and the answer goes to the saved descriptor.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

PROTOCOL = 1


def main() -> None:
    if "--worker" in sys.argv:
        _pyperf_worker()
        return
    answer_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        task = json.load(sys.stdin)
        if task.get("protocol") != PROTOCOL:
            raise ValueError(f"unsupported protocol {task.get('protocol')!r}")
        kinds = {
            "bench": _bench,
            "progress": _progress,
            "race": _race,
            "guard-cost": _guard_cost,
            "check": _check,
            "pool": _pool,
            "calls": _calls,
            "sweep-point": _sweep_point,
        }
        doc = kinds[task["kind"]](task)
        doc = {"protocol": PROTOCOL, "ok": True, "kind": task["kind"], **doc}
        code = 0
    except _WorkerDied as died:
        _die_like(died.exitcode)
        raise
    except Exception as exc:  # reported as data: the harness decides what it means
        doc = {"protocol": PROTOCOL, "ok": False, "error": _error(exc)}
        code = 1
    os.write(answer_fd, (json.dumps(doc) + "\n").encode())
    sys.exit(code)


class _WorkerDied(Exception):
    def __init__(self, exitcode: int):
        super().__init__(f"pyperf worker exited {exitcode}")
        self.exitcode = exitcode


def _error(exc: BaseException) -> dict[str, str]:
    return {"type": type(exc).__name__, "message": str(exc)}


def _die_like(exitcode: int) -> None:
    """Die of the signal that killed our pyperf worker, so the harness sees the real cause."""
    if exitcode < 0:
        signal.signal(-exitcode, signal.SIG_DFL)
        os.kill(os.getpid(), -exitcode)


def _runner(task: dict[str, Any], task_file: str):  # -> pyperf.Runner
    import pyperf

    return pyperf.Runner(
        metadata=task.get("metadata", {}),
        program_args=("-m", "gvlbench.worker"),
        add_cmdline_args=lambda cmd, args: cmd.extend(("--task-file", task_file)),
    )


def _bench(task: dict[str, Any]) -> dict[str, Any]:
    _preflight(task)
    with tempfile.TemporaryDirectory(prefix="gvlbench-") as tmp:
        task_file = os.path.join(tmp, "task.json")
        Path(task_file).write_text(json.dumps(task))
        out = os.path.join(tmp, "out.json")
        runner = _runner(task, task_file)
        runner.argparser.add_argument("--task-file")
        runner.parse_args(
            [*_pyperf_args(task["pyperf"]), "--quiet", "--output", out, "--task-file", task_file]
        )
        try:
            runner.bench_time_func(task["name"], _never_called_in_manager)
        except RuntimeError as exc:  # pyperf: "... failed with exit code N"
            m = re.search(r"exit code (-?\d+)", str(exc))
            if m:
                raise _WorkerDied(int(m.group(1))) from None
            raise
        suite = json.loads(Path(out).read_text())
    bench = suite["benchmarks"][0]
    # Fold the suite's common metadata into the benchmark, so it stands alone when merged.
    bench["metadata"] = {**suite.get("metadata", {}), **bench.get("metadata", {})}
    return {"benchmark": bench}


def _pyperf_args(opts: dict[str, Any]) -> list[str]:
    args = [
        "--processes",
        str(opts["processes"]),
        "--values",
        str(opts["values"]),
        "--warmups",
        str(opts["warmups"]),
        "--min-time",
        str(opts["min_time"]),
    ]
    if opts.get("loops"):
        args += ["--loops", str(opts["loops"])]
    return [*args, "--inherit-environ", "GVLBENCH_FAULT"]  # pyperf workers get a bare env


def _never_called_in_manager(loops: int) -> float:
    raise AssertionError("the manager process never runs the timed body")


def _preflight(task: dict[str, Any]) -> None:
    """One checked call here, before pyperf spawns anything: a wrong result or an unexpected
    exception comes back as a precise error instead of a bare worker exit code."""
    from gvlbench.embed import Target, make_embeddings
    from gvlbench.invoke import CallPath, Mode

    target = Target.from_json(task["target"])
    (emb,) = make_embeddings(target, Mode(task["mode"]), CallPath(task["call_path"]), 1)
    emb.checked_call()


def _pyperf_worker() -> None:
    """Entry point of the processes pyperf spawns: build the team, let pyperf time it."""
    import argparse

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task-file", required=True)
    task_file = pre.parse_known_args()[0].task_file
    task = json.loads(Path(task_file).read_text())

    from gvlbench.embed import Target, make_embeddings
    from gvlbench.invoke import CallPath, Mode
    from gvlbench.measure import ThreadTeam

    target = Target.from_json(task["target"])
    embs = make_embeddings(target, Mode(task["mode"]), CallPath(task["call_path"]), task["threads"])
    for emb in embs:
        emb.checked_call()  # outside the timing: first-call costs and the expectation
    # `gvlbench calls` prices the call itself: checked once above, then timed bare
    each = task.get("check_each_call", True) and CallPath(task["call_path"]).checks_results
    calls = [emb.checked_call if each else emb.call for emb in embs]
    if task.get("guard"):
        from gvlbench.guard import StoreGuard, guarded

        calls = [guarded(c, StoreGuard(f"store-{i}")) for i, c in enumerate(calls)]
    team = ThreadTeam(calls)
    runner = _runner(task, task_file)
    runner.argparser.add_argument("--task-file")
    runner.bench_time_func(task["name"], team.run)
    team.close()


def _progress(task: dict[str, Any]) -> dict[str, Any]:
    from gvlbench.embed import Target, make_embeddings
    from gvlbench.hosts import HostContext
    from gvlbench.invoke import CallPath, Mode
    from gvlbench.measure import Sibling, measure_overlap, measure_progress

    target = Target.from_json(task["target"])
    sibling = Sibling()
    ctx = HostContext(counter=lambda: sibling.count)
    (emb,) = make_embeddings(target, Mode(task["mode"]), CallPath(task["call_path"]), 1, [ctx])
    emb.checked_call()  # warm: first-call costs stay out of the samples
    try:
        samples = measure_progress(emb.checked_call, ctx.marks, sibling, task["repeats"])
    finally:
        sibling.stop()
    via = "host mark" if any(i.host == "mark" for i in target.imports) else "around the call"
    doc: dict[str, Any] = {
        "via": via,
        "samples": [
            {"ratio": s.ratio, "call_s": s.call_s, "rate_alone_per_s": s.rate_alone_per_s}
            for s in samples
        ],
    }
    threads = int(task.get("overlap_threads") or 0)
    if threads > 1:  # the sibling is gone: only the calls compete now
        embs = make_embeddings(target, Mode(task["mode"]), CallPath(task["call_path"]), threads)
        for emb in embs:
            emb.checked_call()
        doc["overlap_threads"] = threads
        doc["overlap"] = measure_overlap([e.checked_call for e in embs], task["repeats"])
    return doc


def _race(task: dict[str, Any]) -> dict[str, Any]:
    from gvlbench.race import run_trial

    return run_trial(task)


def _guard_cost(task: dict[str, Any]) -> dict[str, Any]:
    from gvlbench.guard_cost import measure

    return measure(task)


def _sweep_point(task: dict[str, Any]) -> dict[str, Any]:
    from gvlbench.sweep import measure_point

    return measure_point(task)


def _calls(task: dict[str, Any]) -> dict[str, Any]:
    from gvlbench.calls import measure

    return measure(task)


def _pool(task: dict[str, Any]) -> dict[str, Any]:
    from gvlbench.pool import run_pool

    return run_pool(task)


def _check(task: dict[str, Any]) -> dict[str, Any]:
    from gvlbench.checks import run_check

    return run_check(task)


if __name__ == "__main__":
    main()
