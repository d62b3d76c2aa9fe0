"""`gvlbench race`: threads calling into one Store, in real child processes, trial by trial.

With the lock released, a Store shared across threads is undefined behaviour; this module
reproduces it and classifies each trial (crashed, raised, hung, survived), and runs the
controls: a Store per thread (must never crash) and the Store guard (errors, never a crash).
The child's side is worker/race.py; the summary table is report/race.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from gvlbench import native, wat
from gvlbench.answers import RaceAnswer
from gvlbench.bindings import Binding, Feature, Form
from gvlbench.designs import ENTRY_RACES, NATIVE
from gvlbench.errors import OptionError, UnavailableError
from gvlbench.harness import code as code_target
from gvlbench.harness import timeline
from gvlbench.harness.interpreter import (
    Runtime,
    binding_of,
    call_path_of,
    check_call_path,
    check_patches,
    free_threaded,
    language_of,
    modes_under,
)
from gvlbench.harness.loop import Executor, Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.target import check_runtimes, common_metadata
from gvlbench.modes import for_interpreter
from gvlbench.protocol import CallPath, Code, Mode, RaceTask, Target
from gvlbench.results import Results
from gvlbench.scenario import Scenario


@dataclass(frozen=True)
class RaceConfig:
    store: str  # shared | per-thread | code (a code target makes its own Stores)
    guard: bool
    mode: Mode
    guard_kind: str = "python"  # protocol.GUARD_KINDS
    patches: tuple[str, ...] = ()  # binding patches the trial's child applies

    def label(self) -> str:
        label = f"{self.store}, {self.mode}"
        if self.guard:
            # "guard" stays the python guard's label (baselines and the gate's rule match it)
            label += ", guard" if self.guard_kind == "python" else f", {self.guard_kind} guard"
        return label + "".join(f", {p}" for p in self.patches)


@dataclass(frozen=True)
class RaceOptions:
    scenario: Scenario | None  # None: a code target
    configs: tuple[RaceConfig, ...]
    threads: int = 8
    trials: int = 10
    duration_s: float = 5.0
    call_path: CallPath = CallPath.STOCK
    timeout_s: float | None = None  # default: duration + 60 s of slack for start-up
    output: Path | None = None
    runtimes: tuple[Runtime, ...] = ()  # empty: the harness's own Python
    code: Code | None = None  # --setup/--per-thread-setup/--stmt
    name: str = "code"
    entry_races: tuple[str, ...] = ()  # designs.ENTRY_RACES, on the scenario `entries`
    timeline: Path | None = None  # --timeline PATH: each trial's threads' states

    @property
    def subject(self) -> str:
        return self.scenario.name if self.scenario is not None else self.name

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise OptionError(f"--threads must be at least 1, got {self.threads}")
        if self.trials < 1:
            raise OptionError(f"--trials must be at least 1, got {self.trials}")
        if not 0 < self.duration_s < math.inf:  # nan fails every comparison: so, not this one
            raise OptionError(f"--duration must be positive and finite, got {self.duration_s}")
        if self.timeout_s is not None and not 0 < self.timeout_s < math.inf:
            raise OptionError(f"--timeout must be positive and finite, got {self.timeout_s}")
        form = self.scenario.form if self.scenario is not None else Form.MODULE
        check_call_path(str(self.call_path), self.runtimes, form)
        for rt in self.runtimes or (None,):
            modes_under(tuple(c.mode for c in self.configs), rt)
        if self.entry_races:
            check_entry_races(self)
        timeline.check(self.timeline, self.runtimes, form,
                       "--timeline records the calls of a race; --entry-race races other entry "
                       "points: drop one" if self.entry_races else "")  # fmt: skip
        patches = tuple(dict.fromkeys(p for c in self.configs for p in c.patches))
        if self.code is not None:
            code_target.check(self.code, patches, self.runtimes)
            return
        assert self.scenario is not None
        check_patches(patches, self.runtimes)
        check_runtimes(self.scenario, self.runtimes, str(self.call_path), patches)
        if any(c.guard and c.guard_kind in NATIVE for c in self.configs):
            reason = native.unavailable_reason()
            if reason:
                raise UnavailableError(reason)
        if self.scenario.is_command:
            raise OptionError(
                f"{self.scenario.name} is a WASI command: each run of _start is its own Store "
                "and instance, so there is no Store for threads to share; race an export of a "
                "module that is not a command"
            )


def check_entry_races(opts: RaceOptions) -> None:
    """What an entry-point race cannot be: one line each, before anything runs."""
    for name in opts.entry_races:
        if name not in ENTRY_RACES:
            raise OptionError(f"unknown entry race {name!r} (known: {', '.join(ENTRY_RACES)})")
    if opts.code is not None:
        raise OptionError("--entry-race races gvlbench's own module; drop --stmt")
    for rt in opts.runtimes:
        binding_of(rt).require(Feature.ENTRY_RACE, "--entry-race")
    if any(c.mode is Mode.HELD for c in opts.configs):
        raise OptionError("--entry-race races wasmtime-py's bindings as they are, which release "
                          "the GIL on every entry point: drop --mode held")  # fmt: skip


# -- the harness's side ----------------------------------------------------------------------


def trial_status(outcome: ChildOutcome) -> str:
    """crashed | hung | failed from the child's end; wrong | raised | survived from its
    answer. A wrong result outranks an exception: it is the failure nobody would notice."""
    if outcome.status != "ok" or outcome.answer is None:
        return outcome.status
    answer = outcome.answer_as(RaceAnswer)
    if answer.wrong:
        return "wrong"
    return "raised" if answer.exceptions else "survived"


class RaceExperiment:
    """Every trial of every configuration (and runtime), one child each."""

    command = "race"

    def __init__(self, opts: RaceOptions, executor: Executor | None = None):
        self.opts = opts
        self.executor = executor  # None: real children (its probe's too)
        self.timeline = (timeline.TimelineFile(opts.timeline, self.command, opts.subject)
                         if opts.timeline is not None else None)  # fmt: skip

    @cached_property
    def _prepared(self) -> tuple[Target | Code, wat.Compiled | None]:
        return code_target.target_or_code(self.probed, self.opts.scenario)

    @cached_property
    def probed(self) -> code_target.Probed | None:
        o = self.opts
        if o.code is None:
            return None
        runtime = o.runtimes[0] if o.runtimes else None
        return code_target.probe(o.code, o.configs[0].patches, runtime,
                                 o.timeout_s or code_target.PROBE_TIMEOUT_S,
                                 self.executor)  # fmt: skip

    def binding(self, runtime: Runtime | None) -> Binding:
        """The binding `runtime`'s trials call through: the probed one for code."""
        if self.probed is not None and self.probed.binding.runtime == language_of(runtime):
            return self.probed.binding
        form = Form.CODE if self.opts.code is not None else self.opts.scenario.form  # type: ignore[union-attr]
        return binding_of(runtime, form)

    def configs(self, runtime: Runtime | None) -> list[RaceConfig]:
        """The configurations `runtime` races: those its binding can run (not_applicable()
        lists the others, with why)."""
        binding = self.binding(runtime)
        return [replace(c, mode=binding.modes((c.mode,))[0])
                for c in configs_under(self.opts.configs, runtime)
                if not _why_not(binding, c)]  # fmt: skip

    def not_applicable(self) -> list[dict[str, Any]]:
        rows = []
        for rt in self.opts.runtimes or (None,):
            binding = self.binding(rt)
            for config in configs_under(self.opts.configs, rt):
                reason = _why_not(binding, config)
                if reason:
                    rows.append({"scenario": self.opts.subject, "command": "race",
                                 "binding": binding.name, "interpreter": rt.label if rt else "",
                                 "what": config.label(), "reason": reason})  # fmt: skip
        return rows

    def metadata(self) -> dict[str, Any]:
        o = self.opts
        if o.code is not None:
            patches = tuple(dict.fromkeys(p for c in o.configs for p in c.patches))
            return code_target.metadata(o.code, o.name, patches, o.runtimes, self.probed)
        assert o.scenario is not None
        compiled = self._prepared[1]
        assert compiled is not None
        common = common_metadata(o.scenario, compiled, str(o.call_path), o.runtimes)
        return {**common, "store": "see race"}

    def plan(self) -> list[Job]:
        o, target = self.opts, self._prepared[0]
        timeout_s = o.timeout_s or o.duration_s + 60
        runtimes: tuple[Runtime | None, ...] = o.runtimes or (None,)
        if o.entry_races:
            return [
                Job(f"{race}: {config.label()}: trial {i + 1}/{o.trials}",
                    RaceTask(target=target, mode=config.mode, call_path="stock",
                             threads=o.threads, store="shared", guard=config.guard,
                             guard_kind=config.guard_kind, duration_s=o.duration_s,
                             entry=race),
                    runtime, timeout_s, (config, i, race))
                for runtime in runtimes
                for race in o.entry_races
                for config in configs_under(o.configs, runtime)
                for i in range(o.trials)
            ]  # fmt: skip
        return [
            Job(
                f"{config.label()}: trial {i + 1}/{o.trials}",
                RaceTask(
                    target=target,
                    mode=config.mode,
                    call_path=call_path_of(runtime, str(o.call_path)),
                    threads=o.threads,
                    store=config.store,
                    guard=config.guard,
                    guard_kind=config.guard_kind,
                    duration_s=o.duration_s,
                    patches=config.patches,
                    timeline=o.timeline is not None,
                ),
                runtime,
                timeout_s,
                (config, i),
            )
            for runtime in runtimes
            for config in self.configs(runtime)
            for i in range(o.trials)
        ]

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        """A trial's end is its result: a crash here is what the race is for, not a problem."""
        config, index, *race = job.context
        record = _trial_record(self.opts, config, index, outcome, job.runtime)
        if race:  # an entry-point race: its own rows, named after it
            record.update(scenario=race[0], entry=race[0], config=f"{race[0]}: {record['config']}")
            answer = _answer(outcome)
            if answer:  # a trial that died told nothing of what each side got done
                owner_ops = answer.owner_ops or 0
                record.update(owner_ops=owner_ops,
                              intruder_ops=max(record["calls"] - owner_ops, 0))  # fmt: skip
        results.race.append(record)
        answer = _answer(outcome)
        if answer is not None:
            prefix = f"{self.opts.subject}: trial {index + 1}"
            timeline.record(self.timeline, results, answer.timeline, prefix, self.opts.subject)
        return None


def _why_not(binding: Binding, config: RaceConfig) -> str | None:
    """Why `binding` cannot race `config` (its mode, its guard, its patches), or None."""
    if not binding.modes((config.mode,)):
        return binding.why_not(config.mode)
    if config.guard:
        feature = Feature.NATIVE_GUARD if config.guard_kind in NATIVE else Feature.GUARD
        if binding.why_not(feature):
            return binding.why_not(feature)
    if config.patches:
        return binding.why_not(Feature.PATCHES)
    return None


def configs_under(configs: tuple[RaceConfig, ...], runtime: Runtime | None) -> list[RaceConfig]:
    """The configurations a runtime races: each in its mode there (modes.for_interpreter),
    dropping those it has no mode for (held, free-threaded) and the duplicates that leaves."""
    out: list[RaceConfig] = []
    for config in configs:
        for mode in for_interpreter((config.mode,), free_threaded(runtime)):
            if (moved := replace(config, mode=mode)) not in out:
                out.append(moved)
    return out


def _answer(outcome: ChildOutcome) -> RaceAnswer | None:
    """The trial's answer, whatever its exit (an answer with a non-zero exit still counted
    its calls), or None when it gave none."""
    return outcome.answer_as(RaceAnswer) if outcome.answer is not None else None


def _trial_record(
    opts: RaceOptions,
    config: RaceConfig,
    index: int,
    outcome: ChildOutcome,
    runtime: Runtime | None = None,
) -> dict[str, Any]:
    answer = _answer(outcome) or RaceAnswer(calls=0, refused=0, exceptions={}, examples={})
    label = config.label() + (f", {runtime.label}" if runtime else "")
    code = {k: getattr(answer, k) for k in ("wrong", "wrong_example", "compared")
            if getattr(answer, k) is not None}  # fmt: skip
    return {
        "scenario": opts.subject, "config": label, "store": config.store,
        "patches": "+".join(config.patches), **code,
        "runtime": language_of(runtime), "call_path": call_path_of(runtime, str(opts.call_path)),
        "interpreter": runtime.label if runtime else "",
        "guard": config.guard, "guard_kind": config.guard_kind if config.guard else "",
        "mode": str(config.mode), "threads": opts.threads,
        "trial": index, "trial_status": trial_status(outcome),
        "calls": answer.calls, "refused": answer.refused,
        "exceptions": answer.exceptions, "examples": answer.examples or {},
        **outcome.to_json(),
    }  # fmt: skip
