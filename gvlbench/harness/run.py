"""A `run`: every (mode, thread count) of one scenario measured in its own child process.

The plan (run_plan.py) compiles and validates the scenario once, then lists the steps:
pyperf benchmarks of T threads per mode, progress samples per mode, compile / instantiate /
call timed apart per mode and thread count, or (--mode processes) pool jobs. The loop
(loop.py) runs each step's child; a crash or hang becomes a failure row and the walk goes on.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any

from gvlbench import wat
from gvlbench.answers import BenchAnswer, PhasesAnswer, PoolAnswer, ProgressAnswer, SpeedupAnswer
from gvlbench.bindings import Binding
from gvlbench.harness import code as code_target
from gvlbench.harness import timeline
from gvlbench.harness.interpreter import Runtime, call_path_of, language_of
from gvlbench.harness.loop import Executor, Job
from gvlbench.harness.run_plan import (
    BUDGET_S,
    ROUNDS,
    RunOptions,
    Step,
    not_applicable,
    plan,
    thread_sweep,
)
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.target import common_metadata
from gvlbench.modes import CONTROL
from gvlbench.protocol import (
    BenchTask,
    CallPath,
    Code,
    Mode,
    PhasesTask,
    PoolTask,
    ProgressTask,
    SpeedupTask,
    Target,
    Task,
)
from gvlbench.results import Results, pyperf_benchmark

__all__ = ["BUDGET_S", "ROUNDS", "RunExperiment", "RunOptions", "Step", "bench_name",
           "not_applicable", "plan", "thread_sweep"]  # fmt: skip


class RunExperiment:
    """The `run` command's plan and recording (also the gate's timing part)."""

    command = "run"

    def __init__(
        self, opts: RunOptions, steps: list[Step] | None = None, executor: Executor | None = None
    ):
        self.opts = opts
        self._steps = steps
        self.timeline = (timeline.TimelineFile(opts.timeline, self.command, opts.subject)
                         if opts.timeline is not None else None)  # fmt: skip
        self.executor = executor  # None: real children (its probe's too)

    @cached_property
    def _prepared(self) -> tuple[Target | Code, wat.Compiled | None]:
        return code_target.target_or_code(self.probed, self.opts.scenario)

    @cached_property
    def probed(self) -> code_target.Probed | None:
        o = self.opts
        if o.code is None:
            return None
        runtime = o.runtimes[0] if o.runtimes else None
        return code_target.probe(o.code, o.patches, runtime, o.timeout_s, self.executor)

    @property
    def code_binding(self) -> Binding | None:
        return self.probed.binding if self.probed else None

    def not_applicable(self) -> list[dict[str, Any]]:
        return not_applicable(self.opts, self.code_binding)

    @property
    def compiled(self) -> wat.Compiled | None:
        return self._prepared[1]

    def metadata(self) -> dict[str, Any]:
        o = self.opts
        if o.code is not None:
            return code_target.metadata(o.code, o.name, o.patches, o.runtimes, self.probed)
        assert o.scenario is not None and self.compiled is not None
        md = common_metadata(o.scenario, self.compiled, str(o.call_path), o.runtimes)
        if o.timeline is not None:  # `report` draws it from here
            md["timeline"] = str(o.timeline)
        return {**md, "patches": "+".join(o.patches)} if o.patches else md

    def plan(self) -> list[Job]:
        self._prepared  # noqa: B018  (bad input fails before anything is planned)
        steps = plan(self.opts, self.code_binding) if self._steps is None else self._steps
        return [
            Job(f"measuring {s.label()}", self._task(s), s.runtime, self.opts.timeout_s, s)
            for s in steps
        ]

    def _task(self, step: Step) -> Task:
        opts = self.opts
        path = call_path_of(step.runtime, str(step.call_path or opts.call_path))
        call = {"target": self._prepared[0], "mode": step.mode, "call_path": path,
                "patches": step.patches}  # fmt: skip
        if step.kind == "pool":
            total = opts.pool_calls * opts.max_threads
            return PoolTask(**call, threads=step.threads, executor=step.executor, total_calls=total)
        if step.kind == "phases":
            return PhasesTask(**call, threads=step.threads)
        recorded = opts.timeline is not None
        if step.kind == "speedup":
            return SpeedupTask(target=call["target"], call_path=path, modes=step.modes,
                               threads=tuple(thread_sweep(step.threads)), rounds=opts.rounds,
                               budget_s=min(opts.budget_s, opts.timeout_s / 3),
                               patches=step.patches, timeline=recorded)  # fmt: skip
        if step.kind == "progress":
            return ProgressTask(**call, repeats=opts.progress_repeats,
                                overlap_threads=opts.max_threads, timeline=recorded)  # fmt: skip
        name, metadata = self._bench_identity(step, step.mode, step.threads)
        return BenchTask(
            **call,
            name=name,
            threads=step.threads,
            guard=step.guard,
            check_each_call=step.check_each_call,
            pyperf=opts.pyperf,
            metadata=metadata,
        )

    def _bench_identity(self, step: Step, mode: Mode, threads: int) -> tuple[str, dict[str, Any]]:
        """The pyperf benchmark name and metadata of one (mode, threads) cell of `step`."""
        path = call_path_of(step.runtime, str(step.call_path or self.opts.call_path))
        name = bench_name(self.opts.subject, mode, threads, step.guard, step.call_path,
                          step.runtime, step.patches)  # fmt: skip
        metadata = {
            **self.metadata(),
            "mode": str(mode),
            "threads": threads,
            "guard": "on" if step.guard else "off",
            "call_path": path,
            **(step.runtime.metadata() if step.runtime else {}),
        }
        # pyperf refuses an empty metadata value: unpatched rows have no key
        metadata.pop("patches", None)
        if step.patches:
            metadata["patches"] = "+".join(step.patches)
        return name, metadata

    def followups(self, job: Job, outcome: ChildOutcome) -> list[Job]:
        """A paired child of several modes that did not answer (held hangs where released
        runs, on a package that deadlocks under a held lock): each mode again in a child of
        its own, so the one that works is still measured and the other fails alone."""
        step: Step = job.context
        if outcome.ok or step.kind != "speedup" or len(step.modes) < 2:
            return []
        alone = [replace(step, mode=m, modes=(m,)) for m in step.modes]
        return [Job(f"measuring {s.label()}", self._task(s), s.runtime, self.opts.timeout_s, s)
                for s in alone]  # fmt: skip

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        step: Step = job.context
        if step.kind == "speedup":
            return self._record_speedup(results, job, outcome)
        key = _row_key(self.opts.subject, step)
        if isinstance(job.task, PhasesTask):  # its rows, failed or not, name what it called
            key.update(call_path=job.task.call_path, wasi_command=job.task.target.is_command)
        answer = outcome.answer
        if not outcome.ok or answer is None:
            if step.kind == "bench":  # as its benchmark would have said, so rows line up
                key.setdefault("call_path", getattr(job.task, "call_path", ""))
            results.add_failure(key, outcome.to_json())
            return f"{step.label()}: {outcome.describe()}"
        if isinstance(answer, PoolAnswer):
            results.pool.append({**key, "wall_s": answer.wall_s,
                                 "peak_rss_kib": answer.peak_rss_kib,
                                 "calls": answer.calls})  # fmt: skip
        elif isinstance(answer, BenchAnswer):
            results.add_benchmark(answer.benchmark)
        elif isinstance(answer, PhasesAnswer):
            results.phases.append({**key, "compile_s": answer.compile_s,
                                   "instantiate_s": answer.instantiate_s,
                                   "call_s": answer.call_s})  # fmt: skip
        else:
            progress = outcome.answer_as(ProgressAnswer)
            extra = {k: getattr(progress, k) for k in _PROGRESS_EXTRA
                     if getattr(progress, k) is not None}  # fmt: skip
            results.add_progress({**key, "via": progress.via, "samples": progress.samples,
                                  **extra, **_machine(outcome)})  # fmt: skip
            timeline.record(self.timeline, results, progress.timeline, self._prefix(step),
                            self.opts.subject)  # fmt: skip
        return None

    def _prefix(self, step: Step) -> str:
        """What a step's groups are called in the timeline, before their own label."""
        extra = [x for x in (step.runtime and step.runtime.label,
                             step.patches and "+".join(step.patches)) if x]  # fmt: skip
        return ", ".join([self.opts.subject, *extra])

    def _record_speedup(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        """Each cell as a pyperf benchmark (its per-round times, seconds per call), and the
        paired rounds themselves, from which the speedups and their intervals are formed."""
        step: Step = job.context
        answer = outcome.answer
        threads = thread_sweep(step.threads)
        if not outcome.ok or answer is None:
            if len(step.modes) > 1:  # followups() measures each mode alone next
                return f"{step.label()}: {outcome.describe()}; each mode alone next"
            path = call_path_of(step.runtime, str(step.call_path or self.opts.call_path))
            for t in threads:  # one failure row per cell, as its benchmark would have said
                key = _row_key(self.opts.subject, replace(step, kind="bench", threads=t))
                results.add_failure({**key, "call_path": path}, outcome.to_json())
            return f"{step.label()}: {outcome.describe()}"
        answer = outcome.answer_as(SpeedupAnswer)
        for (mode, t), seconds in answer.cells.items():
            if mode == CONTROL:  # no benchmark of its own: the gate reads it from the row
                continue
            name, metadata = self._bench_identity(step, Mode(mode), t)
            values = [s / answer.loops for s in seconds]
            metadata = {**(answer.system or {}), **metadata, "name": name}
            results.add_benchmark(pyperf_benchmark(metadata, values, answer.loops))
        key = _row_key(self.opts.subject, step)
        key.pop("mode")
        key["call_path"] = call_path_of(step.runtime, str(step.call_path or self.opts.call_path))
        results.speedup.append({**key, "loops": answer.loops, "cells": answer.cells,
                                **_machine(outcome)})  # fmt: skip
        timeline.record(self.timeline, results, answer.timeline, self._prefix(step),
                        self.opts.subject)  # fmt: skip
        if self.timeline is not None and answer.traced:
            results.timeline.extend(self.timeline.add_overhead(
                self.opts.subject, answer.cells, answer.traced, answer.loops,
                answer.timeline_cost_ns))  # fmt: skip
        return None


_PROGRESS_EXTRA = ("overlap", "overlap_threads", "control_overlap", "misrouted",
                   "checked_calls")  # fmt: skip


def bench_name(
    scenario: str,
    mode: Mode,
    threads: int,
    guard: bool = False,
    call_path: CallPath | None = None,
    runtime: Runtime | None = None,
    patches: tuple[str, ...] = (),
) -> str:
    """scenario/mode=M/threads=N, then /path=P, /python=V (or /ruby=V), /guard=on and
    /patch=A+B where they apply."""
    name = f"{scenario}/mode={mode}/threads={threads}"
    if call_path is not None:
        name += f"/path={call_path}"
    if runtime is not None:
        name += runtime.name_suffix
    name += "/guard=on" if guard else ""
    return name + (f"/patch={'+'.join(patches)}" if patches else "")


def _machine(outcome: ChildOutcome) -> dict[str, Any]:
    """What the machine gave the child (runner.machine_share): kept on the row it measured."""
    return {"machine": outcome.machine} if outcome.machine else {}


def _row_key(subject: str, step: Step) -> dict[str, Any]:
    """What identifies a progress, pool or failure row of this step."""
    key: dict[str, Any] = {
        "scenario": subject,
        "kind": step.kind,
        "mode": str(step.mode),
        "threads": step.threads,
        "guard": step.guard,
    }
    if step.call_path:
        key["call_path"] = str(step.call_path)
    if step.runtime:
        key.update(
            interpreter=step.runtime.label, gil=step.runtime.gil, runtime=language_of(step.runtime)
        )
    if step.kind == "pool":
        key["executor"] = step.executor
    if step.patches:
        key["patches"] = "+".join(step.patches)
    return key
