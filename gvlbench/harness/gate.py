"""`gvlbench gate`: a CI regression gate with a verdict and an exit code of its own.

It measures what its config asks (or reads a results file), then judges two kinds of rules:
invariants on the current run alone (released overlaps, held serialises, the race still
crashes, the guards still hold (python, and native where it is built), verify has only known
failures) and tolerances against a baseline (released speedup and progress no worse than the
baseline's by more than a margin).
Each rule is a row with a verdict: pass, fail, unsure (cannot be judged: too few cores, no
baseline row) or error (a measurement did not complete). pyperf's compare_to always exits 0;
this does not: 0 pass, 1 a rule failed, 2 an error or bad input.
"""

from __future__ import annotations

from dataclasses import replace

from gvlbench import native, scenario
from gvlbench.harness.interpreter import Runtime, resolve_runtimes
from gvlbench.harness.loop import Experiment, Progress, execute
from gvlbench.harness.race import RaceConfig, RaceExperiment, RaceOptions
from gvlbench.harness.run import BUDGET_S, ROUNDS, RunExperiment, RunOptions
from gvlbench.harness.verify import VerifyExperiment, VerifyOptions, load_known
from gvlbench.protocol import Mode, PyperfOptions
from gvlbench.report.gate import TIMING_RULES, GateConfig, Rule, judge
from gvlbench.results import Results


def runtimes_of(cfg: GateConfig, pythons: tuple[str, ...] = ()) -> tuple[Runtime, ...]:
    """The configured runtimes, probed; () for the harness's own Python alone (unlabelled
    rows, as every baseline measured before runtimes existed has them). `pythons` (--python)
    take the place of the harness's own Python: the gate judges those interpreters."""
    if pythons:
        return resolve_runtimes(tuple(n for n in cfg.runtimes if n != "python"), pythons)
    return resolve_runtimes(cfg.runtimes, ()) if set(cfg.runtimes) != {"python"} else ()


def experiments(cfg: GateConfig, scenarios: tuple[str, ...], full: bool,
                pythons: tuple[str, ...] = ()) -> list[Experiment]:  # fmt: skip
    """The timing part (each scenario in every mode over the thread sweep, and progress)
    for `scenarios`; with `full`, then the race and verify parts the config asks for."""
    runtimes = runtimes_of(cfg, pythons)
    pyperf = PyperfOptions.preset(cfg.preset)
    found: list[Experiment] = [
        RunExperiment(RunOptions(scenario.find(name), cfg.threads, pyperf=pyperf,
                                 progress_repeats=cfg.progress_repeats, runtimes=runtimes,
                                 phases=False, rounds=ROUNDS[cfg.preset],
                                 budget_s=BUDGET_S[cfg.preset]))
        for name in scenarios
    ]  # fmt: skip
    if full and cfg.race_trials:
        configs = (RaceConfig("shared", False, Mode.RELEASED),
                   RaceConfig("shared", True, Mode.RELEASED))  # fmt: skip
        if native.unavailable_reason() is None:  # the native guard must hold too, where built
            configs += (RaceConfig("shared", True, Mode.RELEASED, "native"),)
        race = RaceOptions(scenario.find("grow"), configs, trials=cfg.race_trials,
                           duration_s=cfg.race_duration, runtimes=runtimes)  # fmt: skip
        found.append(RaceExperiment(race))
    if full and cfg.verify_repeat:
        known = load_known(scenario.known_defects_path())
        found.append(VerifyExperiment(VerifyOptions(repeat=cfg.verify_repeat, known=known,
                                                    runtimes=runtimes)))  # fmt: skip
    return found


def measure(
    cfg: GateConfig,
    scenarios: tuple[str, ...],
    full: bool,
    progress: Progress | None = None,
    pythons: tuple[str, ...] = (),
) -> Results:
    """Every experiment of the config into one document; every job is planned (and so all
    input validated) before the first child runs, and the progress display told the total."""
    planned = [(e, e.plan()) for e in experiments(cfg, scenarios, full, pythons)]
    if progress is not None:
        progress.expect(sum(len(jobs) for _, jobs in planned))
    res = Results(metadata={}, command="gate")
    for experiment, jobs in planned:
        execute(experiment, res, progress=progress, jobs=jobs)
    return res


def measure_and_judge(
    cfg: GateConfig,
    baseline: Results | None,
    progress: Progress | None = None,
    pythons: tuple[str, ...] = (),
) -> tuple[Results, list[Rule]]:
    """Measure, judge, and re-measure the scenarios whose timing rules failed: on a shared box
    a burst of foreign load can serialise a whole worker process, so a timing failure counts
    only if it reproduces in each of `confirm_runs` further attempts. A real regression does."""
    current = measure(cfg, cfg.scenarios, True, progress, pythons)
    rules = judge(cfg, current, baseline)
    last_attempt: dict[str, int] = {}  # scenario -> the attempt its timing data comes from
    for attempt in range(2, cfg.confirm_runs + 2):
        failing = [r for r in rules if r.verdict == "fail" and r.rule in TIMING_RULES]
        redo = tuple(sorted({r.scenario for r in failing if r.scenario}))
        if not redo:
            break
        again = measure(cfg, redo, False, progress, pythons)
        current = _replace(current, again, set(redo))
        last_attempt.update(dict.fromkeys(redo, attempt))
        rules = [_attempted(r, last_attempt) for r in judge(cfg, current, baseline)]
    return current, rules


def _replace(current: Results, again: Results, names: set[str]) -> Results:
    """`current` with the timing data of `names` taken from `again`; everything else
    (race, verify, pool, guard cost, other scenarios) kept as it was."""
    kept = current.replaced(
        benchmarks=[b for b in current.benchmarks if b["metadata"]["scenario"] not in names],
        progress=[p for p in current.progress if p["scenario"] not in names],
        failures=[f for f in current.failures if f["scenario"] not in names],
        speedup=[s for s in current.speedup if s["scenario"] not in names],
    )
    kept.extend(again.replaced(metadata={}))
    return kept


def _attempted(rule: Rule, last_attempt: dict[str, int]) -> Rule:
    """A timing rule of a re-measured scenario says on which attempt it was decided."""
    attempt = last_attempt.get(rule.scenario)
    if attempt is None or rule.rule not in TIMING_RULES:
        return rule
    if rule.verdict == "fail":
        why = f"failed on all {attempt} attempts"
    elif rule.verdict == "unsure":  # its own reason (a busy machine) said, with the attempt
        why = f"{rule.why} (attempt {attempt}; an earlier one failed)".lstrip()
    else:
        why = f"passed on attempt {attempt} (an earlier one failed)"
    return replace(rule, why=why)
