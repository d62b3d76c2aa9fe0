"""`race`: the shared-Store crash in child processes, the Store guard, and its cost."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from gvlbench import results, scenario
from gvlbench.cli.common import (
    announce_runtimes,
    call_path_option,
    err,
    measure,
    mode_option,
    modes,
    output_path,
    print_json,
    runtime_option,
)
from gvlbench.cli.run import show_results
from gvlbench.errors import EXIT_FAILED
from gvlbench.harness import interpreter
from gvlbench.harness.guard_cost import ROUNDS, GuardCostExperiment, choose_runtimes
from gvlbench.harness.race import RaceConfig, RaceExperiment, RaceOptions
from gvlbench.protocol import GUARD_KINDS, CallPath, Mode
from gvlbench.report.race import check_expectation, summarize


@click.command()
@click.option(
    "--shared-store/--per-thread-store",
    "shared",
    default=True,
    show_default=True,
    help="All threads call one Store (the hazard), or each owns one (the control).",
)
@click.option(
    "--guard",
    type=click.Choice(GUARD_KINDS),
    is_flag=False,
    flag_value="python",
    default=None,
    help="Put a Store guard around every call: python (the default of a bare --guard; in "
    "Ruby, the guard written in Ruby) or native (one compare-and-swap in C, "
    "gvlbench/native/guard.c).",
)
@click.option(
    "--matrix",
    is_flag=True,
    help="Race every configuration in one table: shared, per-thread, shared with "
    "the guard, and shared with the lock held.",
)
@mode_option(default="released")
@click.option(
    "-t", "--threads", default=8, show_default=True, type=int, help="Threads calling in a loop."
)
@click.option(
    "--trials", default=10, show_default=True, type=int, help="Child processes per configuration."
)
@click.option(
    "--duration",
    "duration_s",
    default=5.0,
    show_default=True,
    type=float,
    help="Seconds a trial runs before it counts as survived.",
)
@click.option(
    "--scenario",
    "scenario_name",
    default="grow",
    show_default=True,
    help="The workload each thread calls (a name or a spec path).",
)
@call_path_option
@click.option(
    "--expect",
    type=click.Choice(["crash", "safe"]),
    help="Exit 1 unless every configuration crashed at least once (crash) or none "
    "crashed, hung or failed (safe).",
)
@click.option(
    "--guard-cost",
    is_flag=True,
    help="Instead of racing, measure the python and native guards' cost per call side by "
    "side (nop and add; raw, lean and stock paths; held and released; Ruby where it runs).",
)
@click.option(
    "--rounds",
    default=ROUNDS,
    show_default=True,
    type=int,
    help="--guard-cost: interleaved batches per row (fewer: quicker, noisier).",
)
@click.option(
    "-o",
    "--json",
    "output",
    metavar="PATH",
    help="Write results (trials, stderr excerpts) to PATH, or '-' for stdout.",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    help="Seconds before a trial is declared hung [default: duration + 60].",
)
@runtime_option
def race(shared: bool, guard: str | None, matrix: bool, mode: str, threads: int, trials: int,
         duration_s: float, scenario_name: str, call_path: str, expect: str | None,
         guard_cost: bool, rounds: int, output: str | None,
         timeout_s: float | None, runtimes: tuple[str, ...]) -> None:  # fmt: skip
    """Call one Store from many threads and classify each trial: crashed, raised, hung, survived.

    Every trial is its own child process, so an abort is a row, never a dead harness.
    """
    path = output_path(output)
    if guard_cost:
        res = _guard_cost(mode, rounds, runtimes, path)
    else:
        probed = interpreter.resolve_runtimes(runtimes, ())
        opts = RaceOptions(
            scenario=scenario.find(scenario_name),
            configs=_race_configs(shared, guard, matrix, mode), threads=threads, trials=trials,
            duration_s=duration_s, call_path=CallPath(call_path), timeout_s=timeout_s,
            runtimes=probed,
        )  # fmt: skip
        announce_runtimes(probed)
        res = measure(RaceExperiment(opts), path)
    if output == "-":
        print_json(res.to_json())
    else:
        show_results(res)
    if expect and not guard_cost:
        problems = check_expectation(summarize(res.race), expect)
        for problem in problems:
            err.print(f"[red]expectation failed:[/red] {escape(problem)}", soft_wrap=True)
        if problems:
            sys.exit(EXIT_FAILED)


def _race_configs(
    shared: bool, guard: str | None, matrix: bool, mode: str
) -> tuple[RaceConfig, ...]:
    if matrix:
        return (RaceConfig("shared", False, Mode.RELEASED),
                RaceConfig("per-thread", False, Mode.RELEASED),
                RaceConfig("shared", True, Mode.RELEASED),
                RaceConfig("shared", False, Mode.HELD))  # fmt: skip
    store = "shared" if shared else "per-thread"
    return tuple(RaceConfig(store, guard is not None, m, guard or "python") for m in modes(mode))


def _guard_cost(
    mode: str, rounds: int, runtimes: tuple[str, ...], path: Path | None
) -> results.Results:
    """Both guards, every path and mode; Ruby too when asked for, or (asked for nothing)
    where it runs."""
    measured = (Mode.HELD, Mode.RELEASED) if mode == "released" else modes(mode)
    python, ruby = choose_runtimes(runtimes)
    announce_runtimes((ruby,) if ruby else ())
    paths = (CallPath.RAW, CallPath.LEAN, CallPath.STOCK) if python else ()
    return measure(GuardCostExperiment(paths, measured, rounds=rounds, ruby=ruby), path)
