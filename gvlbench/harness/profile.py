"""`gvlbench profile`: where a code target's statement spends its time, per mode.

One child per (mode, patch set), single thread; the child's side is worker/profile.py and the
table is report/profile.py. Code targets only: a scenario's phases are `run`'s phases table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gvlbench.answers import ProfileAnswer, to_wire
from gvlbench.bindings import Feature
from gvlbench.errors import OptionError
from gvlbench.harness import code as code_target
from gvlbench.harness import timeline
from gvlbench.harness.interpreter import Runtime, modes_under
from gvlbench.harness.loop import Executor, Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.modes import GIL_MODES
from gvlbench.protocol import Code, Mode, ProfileTask
from gvlbench.results import Results


@dataclass(frozen=True)
class ProfileOptions:
    code: Code
    modes: tuple[Mode, ...] = GIL_MODES
    name: str = "code"
    patches: tuple[str, ...] = ()
    budget_s: float = 2.0
    rounds: int = 5
    timeout_s: float = 300.0
    runtime: Runtime | None = None  # None: the harness's own Python
    timeline: Path | None = None  # the progress rounds' caller and sibling, recorded

    def __post_init__(self) -> None:
        if not 0 < self.budget_s < math.inf or self.rounds < 1:
            raise OptionError("--budget must be positive and --rounds at least 1")
        runtimes = (self.runtime,) if self.runtime else ()
        code_target.check(self.code, self.patches, runtimes)
        modes_under(self.modes, self.runtime)
        timeline.check(self.timeline, runtimes)


class ProfileExperiment:
    command = "profile"

    def __init__(self, opts: ProfileOptions, executor: Executor | None = None):
        self.opts = opts
        self.executor = executor  # None: real children (its probe's too)
        self.timeline = (timeline.TimelineFile(opts.timeline, self.command, opts.name)
                         if opts.timeline is not None else None)  # fmt: skip

    @cached_property
    def _probed(self) -> code_target.Probed:
        o = self.opts
        return code_target.probe(o.code, o.patches, o.runtime, o.timeout_s, self.executor)

    def metadata(self) -> dict[str, Any]:
        o = self.opts
        runtimes = (o.runtime,) if o.runtime else ()
        return code_target.metadata(o.code, o.name, o.patches, runtimes, self._probed)

    def _patch_sets(self) -> tuple[tuple[str, ...], ...]:
        o, binding = self.opts, self._probed.binding
        return ((), o.patches) if o.patches and binding.has(Feature.PATCHES) else ((),)

    def not_applicable(self) -> list[dict[str, Any]]:
        """Modes and patches the statement's binding cannot run, with its reasons."""
        o, binding = self.opts, self._probed.binding
        key = {"scenario": o.name, "command": "profile", "binding": binding.name,
               "interpreter": o.runtime.label if o.runtime else ""}  # fmt: skip
        rows = [{**key, "what": f"mode {m}", "reason": binding.why_not(m) or ""}
                for m in modes_under(o.modes, o.runtime) if not binding.modes((m,))]  # fmt: skip
        if o.patches and not binding.has(Feature.PATCHES):
            rows.append({**key, "what": f"patch {'+'.join(o.patches)}",
                         "reason": binding.why_not(Feature.PATCHES) or ""})  # fmt: skip
        return rows

    def plan(self) -> list[Job]:
        o, probed = self.opts, self._probed  # bad code fails here, before any measuring child
        return [
            Job(f"profiling {o.name}, {mode}" + (f", {'+'.join(p)}" if p else ""),
                ProfileTask(target=probed.code, mode=mode, call_path="stock", patches=p,
                            budget_s=o.budget_s, rounds=o.rounds,
                            timeline=o.timeline is not None),
                o.runtime, o.timeout_s, (mode, p))
            for mode in probed.binding.modes(modes_under(o.modes, o.runtime))
            for p in self._patch_sets()
        ]  # fmt: skip

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        mode, patches = job.context
        key = {"scenario": self.opts.name, "mode": str(mode), "patches": "+".join(patches)}
        if not outcome.ok or outcome.answer is None:
            results.add_failure({**key, "kind": "profile", "threads": 1}, outcome.to_json())
            return f"{job.label}: {outcome.describe()}"
        answer = outcome.answer_as(ProfileAnswer)
        results.profile.append({**key, "runs": answer.runs, "plain_s": answer.plain_s,
                                "hooked_s": answer.hooked_s, "setup": to_wire(answer.setup),
                                "first": to_wire(answer.first), "steady": to_wire(answer.steady),
                                "progress": answer.progress,
                                "phases": answer.steady.phase_s})  # fmt: skip
        prefix = ", ".join([self.opts.name, *(["+".join(patches)] if patches else [])])
        timeline.record(self.timeline, results, answer.timeline, prefix, self.opts.name)
        return None
