"""An executor that answers every task in-process, from the task alone: the fast tier's child.

hyperfine tests its scheduler with a `MockExecutor`; the loop here (loop.py) takes any
`Executor`, and this one runs no child and no engine. It answers each task kind with the typed
answer a worker would give, computed from the task by a small lock model:

- a call takes `call_s`; with the lock held, T threads take turns (T calls' time); in any
  other mode they run at once on up to `cores` cores;
- a sibling thread progresses fully unless the lock is held (ratio 0), and T threads'
  calls overlap unless it is;
- threads sharing a Store with the lock released collide (a `Trap` per tenth call), unless a
  guard refuses the second thread (half the calls refused); held, or a Store each, never;
- every check passes, every legal use is admitted, each guard design costs `guard_ns`, and
  each call path costs its share of the stock path's call (PATH_COST).

Every answer goes through its JSON form and back (answers.parse_answer), so what the
experiments record is exactly what the real reader builds. `fail(job)` may end a job as a
real child would not answer (crashed, hung, raised): the outcome to give instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gvlbench.answers import (
    Answer,
    BenchAnswer,
    CallsAnswer,
    CallSeries,
    CheckAnswer,
    CodeProbeAnswer,
    GuardCostAnswer,
    LegalUse,
    LegalUsesAnswer,
    PhasesAnswer,
    PoolAnswer,
    ProfileAnswer,
    ProfilePart,
    ProgressAnswer,
    RaceAnswer,
    SpeedupAnswer,
    SweepPointAnswer,
    parse_answer,
)
from gvlbench.designs import LEGAL_USES
from gvlbench.harness.loop import Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.modes import Mode
from gvlbench.protocol import (
    BenchTask,
    CallPath,
    CallsTask,
    CheckTask,
    CodeProbeTask,
    GuardCostTask,
    LegalUsesTask,
    PhasesTask,
    PoolTask,
    ProfileTask,
    ProgressTask,
    RaceTask,
    SpeedupTask,
    SweepPointTask,
    Task,
)
from gvlbench.report.profile import PHASE_LABELS
from gvlbench.results import pyperf_benchmark

# A call's cost along each call path, as a share of the stock path's: what `calls` prices
PATH_COST = {CallPath.FLOOR: 0.25, CallPath.RAW: 0.5, CallPath.LEAN: 0.75, CallPath.STOCK: 1.0}


@dataclass
class FakeExecutor:
    """Answers every job from its task (see the module's docstring); `ran` lists the jobs
    in the order they came. `binding_calls` is what a code probe reports it saw (which
    binding the statement called Wasm through, by name)."""

    call_s: float = 0.01
    cores: int = 2
    guard_ns: float = 5.0
    binding_calls: Mapping[str, int] = field(default_factory=dict)
    fail: Callable[[Job], ChildOutcome | None] | None = None
    ran: list[Job] = field(default_factory=list)

    def run(self, job: Job) -> ChildOutcome:
        self.ran.append(job)
        failed = self.fail(job) if self.fail else None
        if failed is not None:
            return failed
        answer = parse_answer(self.answer(job.task).to_json())  # as the runner reads a child
        return ChildOutcome("ok", 0, 0.0, answer=answer)

    def answer(self, task: Task) -> Answer:
        """The typed answer a worker would give `task`, by the lock model."""
        return _ANSWERS[type(task)](self, task)

    # -- the lock model ---------------------------------------------------------------------

    def wall_s(self, mode: Mode, threads: int) -> float:
        """T threads making one call each: in turn when the lock is held, at once (up to the
        cores) otherwise."""
        if not mode.parallel:
            return self.call_s * threads
        return self.call_s * math.ceil(threads / self.cores)

    def _speedup(self, task: SpeedupTask) -> SpeedupAnswer:
        cells = {(m, t): [self.wall_s(m, t)] * task.rounds for m in task.modes
                 for t in task.threads}  # fmt: skip
        return SpeedupAnswer(loops=1, cells=cells, system={"cpu_count": self.cores})

    def _bench(self, task: BenchTask) -> BenchAnswer:
        values = [self.wall_s(task.mode, task.threads)] * task.pyperf.values
        md = {**task.metadata, "name": task.name}
        return BenchAnswer(benchmark=pyperf_benchmark(md, values, 1))

    def _progress(self, task: ProgressTask) -> ProgressAnswer:
        ratio = 1.0 if task.mode.parallel else 0.0
        samples = [{"ratio": ratio, "call_s": self.call_s, "rate_alone_per_s": 1e7}
                   for _ in range(task.repeats)]  # fmt: skip
        if task.overlap_threads < 2:
            return ProgressAnswer(via="around the call", samples=samples)
        return ProgressAnswer(via="around the call", samples=samples,
                              overlap=[ratio] * task.repeats,
                              overlap_threads=task.overlap_threads)  # fmt: skip

    def _phases(self, task: PhasesTask) -> PhasesAnswer:
        n = task.threads * task.rounds
        wall = self.wall_s(task.mode, task.threads)
        return PhasesAnswer(compile_s=[wall * 10] * n, instantiate_s=[wall] * n,
                            call_s=[wall] * n)  # fmt: skip

    def _pool(self, task: PoolTask) -> PoolAnswer:
        wall_s = self.wall_s(task.mode, task.threads) / task.threads * task.total_calls
        processes = task.threads if task.executor == "processes" else 1
        return PoolAnswer(executor=task.executor, wall_s=[wall_s] * task.repeats,
                          peak_rss_kib=50_000 * processes, calls=task.total_calls)  # fmt: skip

    def _race(self, task: RaceTask) -> RaceAnswer:
        calls = int(task.duration_s / self.call_s) * task.threads
        collide = task.store == "shared" and task.mode.parallel and task.threads > 1
        refused = calls // 2 if collide and task.guard else 0
        traps = calls // 10 if collide and not task.guard else 0
        code = {"compared": True, "wrong": 0} if task.code is not None else {}
        owner = {"owner_ops": calls // task.threads} if task.entry else {}
        return RaceAnswer(calls=calls - refused, refused=refused,
                          exceptions={"Trap": traps} if traps else {},
                          examples={"Trap": "wasm trap: the fake model's collision"} if traps
                          else {}, elapsed_s=task.duration_s, **code, **owner)  # fmt: skip

    def _check(self, task: CheckTask) -> CheckAnswer:
        return CheckAnswer(check=task.check, repeat=task.repeat, failed=0, failures=[],
                           notes=["the fake executor passes every check"],
                           elapsed_s=self.call_s)  # fmt: skip

    def _guard_cost(self, task: GuardCostTask) -> GuardCostAnswer:
        plain = self.call_s * 1e9
        code = {"entries": {"wasmtime_func_call": 1}, "guarded_stores": 1} if task.code else {}
        return GuardCostAnswer(loops=1, unguarded_ns=[plain] * task.rounds,
                               guarded_ns={g: [plain + self.guard_ns] * task.rounds
                                           for g in task.guards}, **code)  # fmt: skip

    def _legal_uses(self, task: LegalUsesTask) -> LegalUsesAnswer:
        return LegalUsesAnswer(uses={use: LegalUse("admitted", "") for use in LEGAL_USES})

    def _sweep_point(self, task: SweepPointTask) -> SweepPointAnswer:
        if task.modes == (Mode.FREE_THREADED,):
            cells = [(Mode.FREE_THREADED, 1), (Mode.FREE_THREADED, task.threads)]
        else:
            cells = [(m, task.threads) for m in task.modes]
        per_call = {c: self.wall_s(*c) for c in cells}
        return SweepPointAnswer(loops=1, cells={c: [s] * task.rounds for c, s in per_call.items()},
                                alone_s=[self.call_s] * task.rounds)  # fmt: skip

    def _calls(self, task: CallsTask) -> CallsAnswer:
        teams = (1, task.threads) if task.threads > 1 else (1,)
        series = [CallSeries(path=str(p), mode=str(m), loops=1, threads=t,
                             ns=[self.wall_s(m, t) * 1e9 * PATH_COST[p]] * task.rounds)
                  for p in task.paths for m in task.modes for t in teams]  # fmt: skip
        return CallsAnswer(series=series)

    def _code_probe(self, task: CodeProbeTask) -> CodeProbeAnswer:
        return CodeProbeAnswer(result="None", comparable=True, alone_s=self.call_s,
                               refused_in_thread="", binding_calls=dict(self.binding_calls),
                               engines=[])  # fmt: skip

    def _profile(self, task: ProfileTask) -> ProfileAnswer:
        phases = [p for p in PHASE_LABELS if p != "python"]  # python: what no phase claimed
        part = ProfilePart(phase_s={p: self.call_s / 10 for p in phases},
                           calls={p: 1.0 for p in phases})  # fmt: skip
        first = ProfilePart(part.phase_s, part.calls, total_s=self.call_s * 2)
        ratio = 1.0 if task.mode.parallel else 0.0
        return ProfileAnswer(runs=task.rounds, plain_s=[self.call_s] * task.rounds,
                             hooked_s=[self.call_s * 1.01] * task.rounds, setup=first,
                             first=first, steady=part, progress=[ratio] * task.rounds)  # fmt: skip


_ANSWERS: dict[type[Task], Callable[[FakeExecutor, Task], Answer]] = {
    SpeedupTask: FakeExecutor._speedup, BenchTask: FakeExecutor._bench,
    ProgressTask: FakeExecutor._progress, PhasesTask: FakeExecutor._phases,
    PoolTask: FakeExecutor._pool, RaceTask: FakeExecutor._race, CheckTask: FakeExecutor._check,
    GuardCostTask: FakeExecutor._guard_cost, LegalUsesTask: FakeExecutor._legal_uses,
    SweepPointTask: FakeExecutor._sweep_point, CallsTask: FakeExecutor._calls,
    CodeProbeTask: FakeExecutor._code_probe, ProfileTask: FakeExecutor._profile,
}  # type: ignore[dict-item]  # fmt: skip
