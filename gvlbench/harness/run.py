"""A `run`: every (mode, thread count) of one scenario measured in its own child process.

The plan compiles and validates the scenario once, then lists the steps: pyperf benchmarks of
T threads per mode, progress samples per mode, compile / instantiate / call timed apart per
mode and thread count (Python runtimes), or (--mode processes) pool jobs. The loop
(loop.py) runs each step's child; a crash or hang becomes a failure row and the walk goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from gvlbench import wat
from gvlbench.answers import BenchAnswer, PhasesAnswer, PoolAnswer, ProgressAnswer, SpeedupAnswer
from gvlbench.bindings import Binding, Feature, Form
from gvlbench.errors import OptionError
from gvlbench.harness import code as code_target
from gvlbench.harness import timeline
from gvlbench.harness.interpreter import (
    Runtime,
    binding_of,
    call_path_of,
    check_call_path,
    check_patches,
    language_of,
    modes_under,
)
from gvlbench.harness.loop import Executor, Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.target import check_runtimes, common_metadata, prepare_target
from gvlbench.modes import CONTROL, GIL_MODES
from gvlbench.protocol import (
    EXECUTORS,
    BenchTask,
    CallPath,
    Code,
    Mode,
    PhasesTask,
    PoolTask,
    ProgressTask,
    PyperfOptions,
    SpeedupTask,
    Target,
    Task,
)
from gvlbench.results import Results, pyperf_benchmark
from gvlbench.scenario import Scenario

# The paired speedup by preset: rounds, and the seconds after which a slow target stops early
ROUNDS = {"fast": 10, "default": 20, "rigorous": 60}
BUDGET_S = {"fast": 20.0, "default": 60.0, "rigorous": 240.0}


@dataclass(frozen=True)
class RunOptions:
    scenario: Scenario | None  # None: a code target
    max_threads: int
    modes: tuple[Mode, ...] = GIL_MODES
    call_path: CallPath = CallPath.STOCK
    pyperf: PyperfOptions = field(default_factory=PyperfOptions)
    progress_repeats: int = 5
    timeout_s: float = 300.0
    # runtimes to run the children under (probed: other Pythons, Ruby); empty: the harness's
    # own Python
    runtimes: tuple[Runtime, ...] = ()
    # --mode processes: threads vs a process pool on the same total work (see pool.py)
    pool: bool = False
    pool_calls: int = 20  # calls per worker at the largest worker count
    pool_repeats: int = 4  # fresh children per (executor, workers), alternating executors
    # compile, instantiate and call timed apart per (mode, threads), Python runtimes only (the
    # Ruby worker does not do it): one short child each (see worker/phases.py)
    phases: bool = True
    # a Python-code target (--setup/--per-thread-setup/--stmt) instead of a scenario, and the
    # name its rows carry
    code: Code | None = None
    name: str = "code"
    # binding patches: each bench and progress step runs unpatched and with these, side by side
    patches: tuple[str, ...] = ()
    # the paired speedup (Python runtimes): rounds of every (mode, threads) cell in one child,
    # stopping early past `budget_s` (see worker/speedup.py)
    rounds: int = 20
    budget_s: float = 60.0
    # --timeline PATH: each thread's states recorded (speedup twins, progress) and written
    # there as trace-event JSON (harness/timeline.py)
    timeline: Path | None = None

    @property
    def subject(self) -> str:
        return self.scenario.name if self.scenario is not None else self.name

    def __post_init__(self) -> None:
        if self.pool_calls < 1 or self.pool_repeats < 1:
            raise OptionError("--pool-calls and --pool-repeats must be at least 1")
        if self.max_threads < 1:
            raise OptionError(f"--threads must be at least 1, got {self.max_threads}")
        if self.rounds < 3:
            raise OptionError(f"--rounds must be at least 3, got {self.rounds}")
        if self.progress_repeats < 0:
            raise OptionError("--progress-repeats must be 0 or more")
        if self.pool:
            for rt in self.runtimes:
                binding_of(rt).require(Feature.POOL, "--mode processes")
        form = self.scenario.form if self.scenario is not None else Form.MODULE
        check_call_path(str(self.call_path), self.runtimes, form)
        timeline.check(self.timeline, self.runtimes, form,
                       "--timeline records threads calling Wasm; --mode processes runs pools "
                       "of processes: drop one" if self.pool else "")  # fmt: skip
        for rt in self.runtimes or (None,):
            modes_under(self.modes, rt)  # OptionError if a runtime would measure nothing
        if (self.scenario is None) == (self.code is None):
            raise OptionError("give a SCENARIO or --stmt, not both")
        if self.code is not None:
            code_target.check(self.code, self.patches, self.runtimes)
            if self.pool:
                raise OptionError("--mode processes measures scenarios; drop --stmt")
            if self.call_path is not CallPath.STOCK:
                raise OptionError("--stmt calls wasmtime-py as the package does: drop "
                                  "--call-path")  # fmt: skip
        else:
            check_patches(self.patches, self.runtimes)
            check_runtimes(self.scenario, self.runtimes, str(self.call_path),  # type: ignore[arg-type]
                           self.patches)  # fmt: skip


@dataclass(frozen=True)
class Step:
    scenario: str
    kind: str  # speedup | bench | progress | phases | pool
    mode: Mode
    threads: int  # speedup: the largest count of its sweep
    guard: bool = False  # the Store guard around every call (see guard.py)
    call_path: CallPath | None = None  # None: the run's call path
    check_each_call: bool = True  # False: checked once, then timed bare (`gvlbench calls`)
    runtime: Runtime | None = None  # None: the harness's own interpreter
    executor: str = ""  # kind "pool": threads | processes
    patches: tuple[str, ...] = ()  # binding patches applied in the child
    modes: tuple[Mode, ...] = ()  # kind "speedup": the modes paired in its one child

    def label(self) -> str:
        scenario = self.scenario
        extra = "".join(
            f", {x}"
            for x in (
                self.call_path and f"{self.call_path} path",
                self.runtime and self.runtime.label,
                self.guard and "guarded",
                self.patches and "+".join(self.patches),
            )
            if x
        )
        if self.kind == "progress":
            return f"{scenario} progress, {self.mode}{extra}"
        if self.kind == "speedup":
            modes = " and ".join(map(str, self.modes))
            return f"{scenario}, {modes} paired, 1..{self.threads} threads{extra}"
        if self.kind == "pool":
            return f"{scenario}, {self.threads} {self.executor}{extra}"
        what = f"{scenario} phases" if self.kind == "phases" else scenario
        return f"{what}, {self.mode}, {self.threads} thread{'s' * (self.threads > 1)}{extra}"


def thread_sweep(max_threads: int) -> list[int]:
    """1, 2, 4, ... up to max_threads, and max_threads itself."""
    counts, n = [], 1
    while n < max_threads:
        counts.append(n)
        n *= 2
    return [*counts, max_threads]


def binding_under(opts: RunOptions, runtime: Runtime | None, code_binding: Binding | None
                  ) -> Binding:  # fmt: skip
    """The binding `runtime`'s children call the target through: for code, the one the probe
    found (a Python runtime's), else the runtime's binding for the scenario's form."""
    if opts.code is not None:
        found = binding_of(runtime, Form.CODE)
        return code_binding if code_binding and code_binding.runtime == found.runtime else found
    assert opts.scenario is not None
    return binding_of(runtime, opts.scenario.form)


def modes_of(opts: RunOptions, runtime: Runtime | None, binding: Binding) -> tuple[Mode, ...]:
    """The modes measured under `runtime`: those asked for that it has, as its binding can
    run them (a binding that cannot set the lock runs as-shipped)."""
    return binding.modes(modes_under(opts.modes, runtime))


def not_applicable(opts: RunOptions, code_binding: Binding | None = None) -> list[dict[str, Any]]:
    """The rows `run` would show that a runtime's binding cannot give (held where it has no
    handle on the lock, patches it takes none of), each with the binding's reason: shown as
    N/A, never measured as something else."""
    rows = []
    for rt in opts.runtimes or (None,):
        binding = binding_under(opts, rt, code_binding)
        key = {"scenario": opts.subject, "command": "run", "binding": binding.name,
               "interpreter": rt.label if rt else ""}  # fmt: skip
        for mode in modes_under(opts.modes, rt):
            if not binding.modes((mode,)):
                rows.append({**key, "what": f"mode {mode}", "reason": binding.why_not(mode)})
        if opts.patches and not binding.has(Feature.PATCHES):
            rows.append({**key, "what": f"patch {'+'.join(opts.patches)}",
                         "reason": binding.why_not(Feature.PATCHES)})  # fmt: skip
    return rows


def plan(opts: RunOptions, code_binding: Binding | None = None) -> list[Step]:
    """Modes (and interpreters) interleaved at each thread count, so slow drift of a noisy
    box hits them all alike. Each runtime's binding says which modes, patches and parts it
    can do (not_applicable() lists the rest)."""
    name = opts.subject
    runtimes: tuple[Runtime | None, ...] = opts.runtimes or (None,)
    bound = {id(rt): binding_under(opts, rt, code_binding) for rt in runtimes}
    modes = {id(rt): modes_of(opts, rt, bound[id(rt)]) for rt in runtimes}

    def patch_sets(rt: Runtime | None) -> tuple[tuple[str, ...], ...]:
        can = opts.patches and bound[id(rt)].has(Feature.PATCHES)
        return ((), opts.patches) if can else ((),)

    if opts.pool:  # one job per fresh child, the executors alternating (ABBA) repeat by repeat
        return [
            Step(name, "pool", Mode.RELEASED, t, runtime=rt, executor=e)
            for t in thread_sweep(opts.max_threads)
            for rt in runtimes
            for i in range(opts.pool_repeats)
            for e in (EXECUTORS if i % 2 == 0 else EXECUTORS[::-1])
        ]
    paired = [rt for rt in runtimes if bound[id(rt)].has(Feature.SPEEDUP)]
    steps = [  # every cell of a runtime in one paired child (worker/speedup.py)
        Step(name, "speedup", modes[id(rt)][0], opts.max_threads, runtime=rt,
             patches=p, modes=modes[id(rt)])
        for rt in paired
        for p in patch_sets(rt)
    ]  # fmt: skip
    steps += [  # a worker that cannot pair (Ruby's): one pyperf-style benchmark per cell
        Step(name, "bench", m, t, runtime=rt, patches=p)
        for t in thread_sweep(opts.max_threads)
        for rt in runtimes
        if rt not in paired
        for m in modes[id(rt)]
        for p in patch_sets(rt)
    ]
    if opts.progress_repeats:
        steps += [
            Step(name, "progress", m, 1, runtime=rt, patches=p)
            for rt in runtimes
            for m in modes[id(rt)]
            for p in patch_sets(rt)
        ]
    if opts.phases and opts.code is None:  # a code target's phases: `gvlbench profile`
        steps += [
            Step(name, "phases", m, t, runtime=rt)
            for t in thread_sweep(opts.max_threads)
            for rt in runtimes
            if bound[id(rt)].has(Feature.PHASES)
            for m in modes[id(rt)]
        ]
    return steps


class RunExperiment:
    """The `run` command's plan and recording (also the gate's timing part)."""

    command = "run"

    def __init__(
        self, opts: RunOptions, steps: list[Step] | None = None, executor: Executor | None = None
    ):
        self.opts = opts
        self._steps = steps
        self.executor = executor  # None: real children (its probe's too)
        self.timeline = (timeline.TimelineFile(opts.timeline, self.command, opts.subject)
                         if opts.timeline is not None else None)  # fmt: skip

    @cached_property
    def _prepared(self) -> tuple[Target | Code, wat.Compiled | None]:
        """The scenario compiled and validated, or the code probed (which names the binding
        it calls Wasm through): bad input fails here."""
        o = self.opts
        if o.code is not None:
            return self.probed.code, None  # type: ignore[union-attr]
        assert o.scenario is not None
        return prepare_target(o.scenario)

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
            results.timeline.extend(self.timeline.add_overhead(self.opts.subject, answer.cells,
                                                               answer.traced))  # fmt: skip
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
