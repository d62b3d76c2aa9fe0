"""`race --designs`: every guard design priced, raced and tried on legal code, in one run.

Three experiments into one document (so the designs table reads them together):
the guard cost of every design on every entry point (harness/guard_cost.py, and a statement
of the user's whole when one is given), the entry-point races unguarded and under every design
(harness/race.py), and the legal uses (harness/legal_uses.py). Every job is planned before the
first child runs, so bad input fails first, and the progress bar counts them all.
"""

from __future__ import annotations

from pathlib import Path

from gvlbench import native, scenario
from gvlbench.designs import ENTRY_RACES, GUARDS, NATIVE
from gvlbench.harness.guard_cost import ENTRY_SCENARIO, GuardCostExperiment
from gvlbench.harness.interpreter import Runtime
from gvlbench.harness.legal_uses import LegalUsesExperiment
from gvlbench.harness.loop import Experiment, Progress, execute
from gvlbench.harness.race import RaceConfig, RaceExperiment, RaceOptions
from gvlbench.modes import GIL_MODES
from gvlbench.protocol import CallPath, Code, Mode
from gvlbench.results import Results


def experiments(rounds: int, processes: int, trials: int, duration_s: float,
                others: tuple[Runtime, ...], code: Code | None = None,
                name: str = "code") -> list[Experiment]:  # fmt: skip
    """The three experiments: cost, races, legal uses."""
    built = native.unavailable_reason() is None
    guards = tuple(g for g in GUARDS if built or g not in NATIVE)
    cost = GuardCostExperiment((CallPath.RAW, CallPath.LEAN, CallPath.STOCK), GIL_MODES,
                               rounds=rounds, others=others, guards=GUARDS, code=code,
                               name=name, processes=processes)  # fmt: skip
    configs = tuple(RaceConfig("shared", g is not None, Mode.RELEASED, g or "python")
                    for g in (None, *guards))  # fmt: skip
    races = RaceOptions(scenario.find(ENTRY_SCENARIO), configs, threads=2, trials=trials,
                        duration_s=duration_s, entry_races=tuple(ENTRY_RACES))  # fmt: skip
    return [cost, RaceExperiment(races), LegalUsesExperiment(guards)]


def measure(found: list[Experiment], output: Path | None = None,
            progress: Progress | None = None) -> Results:  # fmt: skip
    """Every experiment into one document, rewritten after every job."""
    planned = [(e, e.plan()) for e in found]
    if progress is not None:
        progress.expect(sum(len(jobs) for _, jobs in planned))
    res = Results(metadata={}, command="race --designs")
    for experiment, jobs in planned:
        execute(experiment, res, output=output, progress=progress, jobs=jobs)
    return res
