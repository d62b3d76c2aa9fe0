"""What a `run` measures: its options, validated once, and the plan of steps they give.

Each runtime's binding says which modes, patches and parts (paired speedup or per-cell
benchmarks, progress, phases, pools) it can give; `plan` lists the steps it can, and
`not_applicable` the rows it cannot, each with the binding's reason (shown as N/A, never
measured as something else). run.py turns the steps into children's tasks and records them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gvlbench.bindings import Binding, Feature, Form
from gvlbench.errors import OptionError
from gvlbench.harness import code as code_target
from gvlbench.harness import timeline
from gvlbench.harness.interpreter import (
    Runtime,
    binding_of,
    check_call_path,
    check_patches,
    modes_under,
)
from gvlbench.harness.target import check_runtimes
from gvlbench.modes import GIL_MODES
from gvlbench.protocol import EXECUTORS, CallPath, Code, Mode, PyperfOptions
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
