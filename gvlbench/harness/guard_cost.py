"""What a Store guard costs per operation: the number the wasmtime-rb PR debate lacked.

Every design side by side (designs.py): the guard written in the worker's language
(`python`: binding/guard.py, or the Ruby worker's StoreGuard) and the three native designs in
C (gvlbench/native/guard.c: the owner word, thread affinity, a mutex), on every Store entry
point the reviewer named: the call (a nop call and a typical small call, `add_i64(2, 3)`) and
the accessors of wat/entries.wat (memory size, read and write, global get and set, table get,
fuel get and set), through the raw, lean and stock call paths, uncontended (one thread), and
through the Ruby worker's ruby-ffi calls when Ruby runs here. The call is priced held and
released; the accessors released, as wasmtime-py makes every one of them (ctypes.cdll), and
in Ruby held, as ruby-ffi attaches a short function by default.

The cost is a few nanoseconds, smaller than the drift between two processes on a noisy
2-core box, so it is not measured as the difference of two separate pyperf benchmarks (tried:
the differences came out as large as the calls and of either sign). Instead one child times
batches of the unguarded operation and of each guarded one in turn, the order reversed every
other round (ABC CBA), and each guard's cost is the median of its paired differences with
the unguarded batch of the same round, with their interquartile range.
"""

from __future__ import annotations

from typing import Any

from gvlbench import native, scenario
from gvlbench.answers import GuardCostAnswer, to_wire
from gvlbench.bindings import Feature, all_bindings, for_language
from gvlbench.designs import ENTRIES, GUARDS, NATIVE
from gvlbench.errors import InterpreterError, OptionError
from gvlbench.harness import code as code_target
from gvlbench.harness.interpreter import Runtime, binding_of, language_of
from gvlbench.harness.loop import Executor, Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.target import common_metadata, prepare_target
from gvlbench.protocol import CallPath, Code, GuardCostTask, Mode
from gvlbench.results import Results

SCENARIOS = ("nop", "add")  # the call's two rows
ENTRY_SCENARIO = "entries"  # the accessors' module
# Interleaved rounds per child, and children per row, pooled: a process's own code layout can
# shift one variant by a few ns for its whole life (seen: +20 ns in one child, +5 in the
# next), which no number of rounds in one process averages out (pyperf's reason for workers)
ROUNDS = 20
PROCESSES = 3


def choose_runtimes(names: tuple[str, ...]) -> tuple[bool, tuple[Runtime, ...]]:
    """(measure the harness's Python?, the other runtimes to measure): the `--runtime`s
    named, or with none named, Python and every other runtime whose binding prices guards,
    where it runs here."""
    if names:
        others = [n for n in dict.fromkeys(names) if n != language_of(None)]
        return language_of(None) in names, tuple(for_language(n).find_runtime() for n in others)
    found = []
    for binding in all_bindings():
        if binding.runtime != language_of(None) and binding.has(Feature.GUARD_COST):
            try:
                found.append(binding.find_runtime())
            except InterpreterError:
                continue
    return True, tuple(found)


def check_choices(entries: tuple[str, ...], guards: tuple[str, ...], rounds: int = ROUNDS) -> None:
    """One line for an unknown entry point or design, or too few rounds, before anything
    runs (a Ruby runtime is looked for)."""
    if rounds < 2:
        raise OptionError(f"--rounds must be at least 2, got {rounds}")
    for name in entries:
        if name not in ENTRIES:
            raise OptionError(f"unknown entry point {name!r} (known: {', '.join(ENTRIES)})")
    for name in guards:
        if name not in GUARDS:
            raise OptionError(f"unknown guard design {name!r} (known: {', '.join(GUARDS)})")


class GuardCostExperiment:
    """One child per (entry point, scenario, path, mode[, runtime]); their samples go into
    `results.guard_cost`. Without a C compiler the native designs are not measured and their
    rows say why (and the accessors' C memory copy with them)."""

    command = "race --guard-cost"

    def __init__(
        self,
        paths: tuple[CallPath, ...],
        modes: tuple[Mode, ...],
        rounds: int = ROUNDS,
        timeout_s: float = 300.0,
        others: tuple[Runtime, ...] = (),
        entries: tuple[str, ...] = ENTRIES,
        guards: tuple[str, ...] = GUARDS,
        code: Code | None = None,
        name: str = "code",
        processes: int = PROCESSES,
        executor: Executor | None = None,
    ):
        check_choices(entries, guards, rounds)
        if processes < 1:
            raise OptionError(f"--processes must be at least 1, got {processes}")
        self.processes = processes
        self.executor = executor  # None: real children (its probe's too)
        self.paths, self.modes, self.rounds, self.timeout_s = paths, modes, rounds, timeout_s
        self.others, self.entries, self.code, self.name = others, entries, code, name
        self.native_unavailable = native.unavailable_reason()
        self.guards = tuple(g for g in guards if g not in NATIVE or not self.native_unavailable)
        self.unavailable = {g: self.native_unavailable for g in guards if g not in self.guards}

    def metadata(self) -> dict[str, Any]:
        return {}

    def plan(self) -> list[Job]:
        jobs = self._entry_jobs()
        if self.code is not None:
            jobs.append(self._code_job(self.code))
        return jobs

    def _code_job(self, code: Code) -> Job:
        """The user's statement, whole, under every design (Python; the released stock path,
        as the package calls wasmtime-py): what the guards cost a real workload."""
        # bad code: one line, before anything is measured
        code_target.probe(code, (), None, code_target.PROBE_TIMEOUT_S, self.executor)
        task = GuardCostTask(target=code, mode=Mode.RELEASED, call_path="stock",
                             rounds=self.rounds, guards=self.guards, entry="code")  # fmt: skip
        key = {"scenario": self.name, "entry": "code", "call_path": "stock",
               "mode": str(Mode.RELEASED), "runtime": language_of(None),
               "wasmtime_version": code_target.metadata(code, self.name, ())["wasmtime_version"],
               "unavailable": self.unavailable}  # fmt: skip
        return Job(f"guard cost: {self.name}", task, None, self.timeout_s, key)  # one child:
        # a statement's cost is microseconds of noise wide, not a few ns of layout

    def _entry_jobs(self) -> list[Job]:
        runs: list[tuple[str, Runtime | None]] = [(str(p), None) for p in self.paths]
        runs += [(binding_of(rt).call_path(""), rt) for rt in self.others]
        jobs = []
        for entry, name in self._rows():
            scen = scenario.find(name)
            target, compiled = prepare_target(scen)
            for path, runtime in runs:
                if self._skipped(entry, path):
                    continue
                meta = common_metadata(scen, compiled, path if runtime is None else "stock")
                for mode in self._modes(entry, runtime):
                    task = GuardCostTask(target=target, mode=mode, call_path=path,
                                         rounds=self.rounds, guards=self.guards,
                                         entry=entry)  # fmt: skip
                    key = {"scenario": name if entry == "call" else entry, "entry": entry,
                           "call_path": path, "mode": str(mode),
                           "runtime": language_of(runtime),
                           "wasmtime_version": meta["wasmtime_version"],
                           "unavailable": self.unavailable}  # fmt: skip
                    label = f"guard cost: {key['scenario']}, {path}, {mode}"
                    jobs += [Job(f"{label} ({i + 1}/{self.processes})", task, runtime,
                                 self.timeout_s, {**key, "process": i})
                             for i in range(self.processes)]  # fmt: skip
        return jobs

    def _rows(self) -> list[tuple[str, str]]:
        """(entry point, scenario) in table order: the call's two, then each accessor."""
        calls = [("call", name) for name in SCENARIOS] if "call" in self.entries else []
        return calls + [(e, ENTRY_SCENARIO) for e in self.entries if e != "call"]

    def _skipped(self, entry: str, path: str) -> bool:
        """The accessors' C memory copy (every path but wasmtime-py's stock one) needs the
        shim."""
        return (bool(self.native_unavailable) and entry in ("memory.read", "memory.write")
                and path != CallPath.STOCK)  # fmt: skip

    def _modes(self, entry: str, runtime: Runtime | None) -> tuple[Mode, ...]:
        """The call in every mode asked for; an accessor as its binding makes it."""
        if entry == "call":
            return self.modes
        return (binding_of(runtime).accessor_mode,)

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        if outcome.ok:
            samples = to_wire(outcome.answer_as(GuardCostAnswer))
            results.guard_cost.append({**job.context, "kind": "guard-cost", **samples})
            return None
        results.add_failure({**job.context, "kind": "guard-cost", "threads": 1}, outcome.to_json())
        return f"{job.label}: {outcome.describe()}"
