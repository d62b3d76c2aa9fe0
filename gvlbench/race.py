"""`gvlbench race`: threads calling into one Store, in real child processes, trial by trial.

With the lock released, a Store shared across threads is undefined behaviour; this module
reproduces it and classifies each trial (crashed, raised, hung, survived), and runs the
controls: a Store per thread (must never crash) and the Store guard (errors, never a crash).
`run_trial` is the child's side; everything else is the harness's.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gvlbench.errors import OptionError
from gvlbench.interpreter import Runtime, call_path_of, check_call_path, kind_of
from gvlbench.invoke import CallPath, Mode
from gvlbench.results import Results, write_atomic
from gvlbench.run import common_metadata, prepare_target
from gvlbench.runner import ChildOutcome, run_child, worker_argv
from gvlbench.scenario import Scenario
from gvlbench.worker import PROTOCOL


@dataclass(frozen=True)
class RaceConfig:
    store: str  # shared | per-thread
    guard: bool
    mode: Mode

    def label(self) -> str:
        return f"{self.store}, {self.mode}" + (", guard" if self.guard else "")


@dataclass(frozen=True)
class RaceOptions:
    scenario: Scenario
    configs: tuple[RaceConfig, ...]
    threads: int = 8
    trials: int = 10
    duration_s: float = 5.0
    call_path: CallPath = CallPath.STOCK
    timeout_s: float | None = None  # default: duration + 60 s of slack for start-up
    output: Path | None = None
    runtimes: tuple[Runtime, ...] = ()  # empty: the harness's own Python

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise OptionError(f"--threads must be at least 1, got {self.threads}")
        if self.trials < 1:
            raise OptionError(f"--trials must be at least 1, got {self.trials}")
        if self.duration_s <= 0:
            raise OptionError(f"--duration must be positive, got {self.duration_s}")
        check_call_path(str(self.call_path), self.runtimes)


@dataclass(frozen=True)
class RaceRow:
    config: str
    trials: int
    crashed: int
    raised: int
    hung: int
    survived: int
    failed: int
    crash_rate: float
    crash_median_s: float | None
    crash_max_s: float | None
    signatures: dict[str, int] = field(default_factory=dict)
    exceptions: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    calls: int = 0


REFUSAL_BACKOFF_S = 0.001

# -- the child's side ------------------------------------------------------------------------


@dataclass
class _Tally:
    calls: int = 0
    refused: int = 0
    exceptions: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)


def run_trial(task: dict[str, Any]) -> dict[str, Any]:
    """Hammer the target from N threads for `duration_s` (or until the process dies)."""
    calls = _trial_calls(task)
    tallies = [_Tally() for _ in calls]
    stop = threading.Event()
    threads = [
        threading.Thread(target=_hammer, args=(c, t, stop), name=f"gvlbench-{i}", daemon=True)
        for i, (c, t) in enumerate(zip(calls, tallies, strict=True))
    ]
    from gvlbench.runner import announce_start

    # Before the first thread starts: a thread can crash the process before the main thread
    # runs again, and a crash with no start mark has no time to crash.
    announce_start()
    start = time.perf_counter()
    for t in threads:
        t.start()
    stop.wait(task["duration_s"])
    stop.set()
    for t in threads:
        t.join()
    exceptions: Counter = Counter()
    examples: dict[str, str] = {}
    for t in tallies:
        exceptions.update(t.exceptions)
        examples.update(t.examples)
    return {
        "elapsed_s": time.perf_counter() - start,
        "calls": sum(t.calls for t in tallies),
        "refused": sum(t.refused for t in tallies),
        "exceptions": dict(exceptions),
        "examples": examples,
    }


def _trial_calls(task: dict[str, Any]) -> list[Callable[[], Any]]:
    import wasmtime

    from gvlbench.embed import Embedding, Target, load_module
    from gvlbench.guard import StoreGuard, guarded

    target = Target.from_json(task["target"])
    mode, path, n = Mode(task["mode"]), CallPath(task["call_path"]), task["threads"]
    engine = wasmtime.Engine()
    module = load_module(engine, target.wasm_path)
    if task["store"] == "shared":
        emb = Embedding(engine, module, target, mode, path)
        calls = [emb.call] + [emb.new_call() for _ in range(n - 1)]
        guards = [StoreGuard("store-0")] * n
    else:
        calls = [Embedding(engine, module, target, mode, path).call for _ in range(n)]
        guards = [StoreGuard(f"store-{i}") for i in range(n)]
    if task["guard"]:
        calls = [guarded(c, g) for c, g in zip(calls, guards, strict=True)]
    return calls


def _hammer(call: Callable[[], Any], tally: _Tally, stop: threading.Event) -> None:
    from gvlbench.guard import StoreInUseError

    while not stop.is_set():
        try:
            call()
            tally.calls += 1
        except StoreInUseError as exc:
            # Back off as a real caller of a recoverable error would: a thread spinning on
            # refusals would otherwise starve the owner, whose call needs the GIL back.
            time.sleep(REFUSAL_BACKOFF_S)
            tally.refused += 1
            tally.exceptions["StoreInUseError"] += 1
            tally.examples.setdefault("StoreInUseError", str(exc))
        except Exception as exc:
            name = type(exc).__name__
            tally.exceptions[name] += 1
            tally.examples.setdefault(name, str(exc)[:300])


# -- the harness's side ----------------------------------------------------------------------


def trial_status(outcome: ChildOutcome) -> str:
    """crashed | hung | failed from the child's end; raised | survived from its answer."""
    if outcome.status != "ok" or outcome.answer is None:
        return outcome.status
    return "raised" if outcome.answer.get("exceptions") else "survived"


def execute_race(
    opts: RaceOptions,
    on_trial: Callable[[RaceConfig, int, dict[str, Any] | None], None] = lambda c, i, t: None,
) -> Results:
    """Every trial of every configuration; the results file is rewritten after each."""
    target, compiled = prepare_target(opts.scenario)
    common = common_metadata(opts.scenario, compiled, opts.call_path, opts.runtimes)
    results = Results(metadata={**common, "store": "see race"}, command="race")
    timeout_s = opts.timeout_s or opts.duration_s + 60
    runtimes: tuple[Runtime | None, ...] = opts.runtimes or (None,)
    for runtime, config in ((rt, c) for rt in runtimes for c in opts.configs):
        argv, env = (runtime.argv(), runtime.env()) if runtime else (worker_argv(), None)
        for i in range(opts.trials):
            on_trial(config, i, None)
            task = {
                "protocol": PROTOCOL, "kind": "race", "target": target.to_json(),
                "mode": str(config.mode), "call_path": call_path_of(runtime, str(opts.call_path)),
                "threads": opts.threads, "store": config.store, "guard": config.guard,
                "duration_s": opts.duration_s,
            }  # fmt: skip
            outcome = run_child(argv, task, timeout_s, env=env)
            trial = _trial_record(opts, config, i, outcome, runtime)
            results.race.append(trial)
            if opts.output:
                write_atomic(opts.output, results)
            on_trial(config, i, trial)
    return results


def _trial_record(
    opts: RaceOptions,
    config: RaceConfig,
    index: int,
    outcome: ChildOutcome,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    answer = outcome.answer or {}
    label = config.label() + (f", {runtime.label}" if runtime else "")
    return {
        "scenario": opts.scenario.name, "config": label, "store": config.store,
        "runtime": kind_of(runtime), "call_path": call_path_of(runtime, str(opts.call_path)),
        "interpreter": runtime.label if runtime else "",
        "guard": config.guard, "mode": str(config.mode), "threads": opts.threads,
        "trial": index, "trial_status": trial_status(outcome),
        "calls": answer.get("calls", 0), "refused": answer.get("refused", 0),
        "exceptions": answer.get("exceptions", {}), "examples": answer.get("examples", {}),
        **outcome.to_json(),
    }  # fmt: skip


def signature(trial: dict[str, Any]) -> str | None:
    """'SIGABRT stackwalk.rs:234' for a crash, None otherwise."""
    if trial["trial_status"] != "crashed":
        return None
    return f"{trial['signal']} {trial['panic']}" if trial.get("panic") else trial["signal"]


def summarize(trials: list[dict[str, Any]]) -> list[RaceRow]:
    """One row per configuration, in the order first seen."""
    by_config: dict[str, list[dict[str, Any]]] = {}
    for t in trials:
        by_config.setdefault(t["config"], []).append(t)
    rows = []
    for config, group in by_config.items():
        status = Counter(t["trial_status"] for t in group)
        crash_times = [t["after_start_s"] or t["duration_s"] for t in group
                       if t["trial_status"] == "crashed"]  # fmt: skip
        exceptions: Counter = Counter()
        for t in group:
            exceptions.update(t["exceptions"])
        rows.append(RaceRow(
            config, len(group), status["crashed"], status["raised"], status["hung"],
            status["survived"], status["failed"], status["crashed"] / len(group),
            statistics.median(crash_times) if crash_times else None,
            max(crash_times) if crash_times else None,
            dict(Counter(s for t in group if (s := signature(t)))), dict(exceptions),
            sum(t["refused"] for t in group), sum(t["calls"] for t in group),
        ))  # fmt: skip
    return rows


def check_expectation(rows: list[RaceRow], expect: str) -> list[str]:
    """Problems with `--expect`: 'crash' wants every configuration to crash at least once
    (the hazard still reproduces); 'safe' wants no crash, hang or failure anywhere."""
    problems = []
    for r in rows:
        if expect == "crash" and r.crashed == 0:
            problems.append(f"{r.config}: expected a crash, {r.trials} trial(s) did not crash")
        if expect == "safe" and (r.crashed or r.hung or r.failed):
            problems.append(
                f"{r.config}: expected safe, got {r.crashed} crashed, {r.hung} hung, "
                f"{r.failed} failed of {r.trials}"
            )
    return problems
