"""`race`: the shared-Store crash in child processes, the Store guard, and its cost."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import click
from rich.markup import escape

from gvlbench import native, results, scenario
from gvlbench.cli.common import (
    AT_LEAST_1,
    SECONDS,
    THREADS,
    Bar,
    announce_runtimes,
    call_path_option,
    code_from,
    code_options,
    err,
    json_output,
    measure,
    mode_option,
    modes,
    output_path,
    patch_option,
    print_json,
    python_option,
    runtime_option,
    timeline_option,
)
from gvlbench.cli.run import show_results
from gvlbench.designs import ENTRIES, ENTRY_RACES, GUARDS, NATIVE
from gvlbench.errors import EXIT_FAILED, OptionError
from gvlbench.harness import designs as designs_study
from gvlbench.harness import interpreter
from gvlbench.harness.guard_cost import (
    ENTRY_SCENARIO,
    PROCESSES,
    ROUNDS,
    GuardCostExperiment,
    check_choices,
    choose_runtimes,
)
from gvlbench.harness.race import RaceConfig, RaceExperiment, RaceOptions
from gvlbench.modes import GIL_MODES
from gvlbench.protocol import GUARD_KINDS, CallPath, Code, Mode
from gvlbench.report.race import check_expectation, summarize


@click.command()
@code_options
@patch_option
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
    "Ruby, the guard written in Ruby), native (the owner word: one compare-and-swap in C, "
    "gvlbench/native/guard.c), affinity (the owner fixed at creation) or mutex (a second "
    "thread waits).",
)
@click.option(
    "--matrix",
    is_flag=True,
    help="Race every configuration in one table: shared, per-thread, shared with "
    "the python guard and with the native guard (where it is built), and shared with the "
    "lock held (not on a free-threaded --python).",
)
@click.option(
    "--entry-race",
    "entry_races",
    multiple=True,
    metavar="NAME",
    help="Race a Store entry point other than the call against the Store's owner (repeatable, "
    "or 'all'): instantiate, memory-read-static, memory-read-dynamic, fuel-set, global-set. "
    "With --matrix: unguarded and under every guard design.",
)
@mode_option(default="released")
@click.option(
    "-t",
    "--threads",
    default=8,
    show_default=True,
    type=THREADS,
    help="Threads calling in a loop.",
)
@click.option(
    "--trials",
    default=10,
    show_default=True,
    type=AT_LEAST_1,
    help="Child processes per configuration.",
)
@click.option(
    "--duration",
    "duration_s",
    default=5.0,
    show_default=True,
    type=SECONDS,
    help="Seconds a trial runs before it counts as survived.",
)
@click.option(
    "--scenario",
    "scenario_name",
    default="grow",
    show_default=True,
    help="The workload each thread calls (a name or a spec path); or give --stmt.",
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
    help="Instead of racing, measure every guard design's cost per operation side by side: "
    "the call (nop and add, held and released) and each Store accessor (memory, global, "
    "table, fuel), along the raw, lean and stock paths, and in Ruby where it runs.",
)
@click.option(
    "--designs",
    "designs_study",
    is_flag=True,
    help="The reviewer's answer in one run: every guard design's cost on every entry point "
    "(as --guard-cost; with --setup/--stmt, on your statement too), every entry race "
    "unguarded and under every design, and the legal uses each design refuses; then one "
    "table of the designs side by side.",
)
@click.option(
    "--entry",
    "entries",
    multiple=True,
    metavar="NAME",
    help="--guard-cost: price only this entry point (repeatable): call, memory.size, "
    "memory.read, memory.write, global.get, global.set, table.get, fuel.get, fuel.set "
    "[default: all].",
)
@click.option(
    "--design",
    "designs",
    multiple=True,
    metavar="NAME",
    help="--guard-cost: price only this guard design (repeatable): python, native (the owner "
    "word), affinity, mutex [default: all].",
)
@click.option(
    "--rounds",
    default=ROUNDS,
    show_default=True,
    type=AT_LEAST_1,
    help="--guard-cost: interleaved batches per row (fewer: quicker, noisier).",
)
@click.option(
    "--processes",
    default=PROCESSES,
    show_default=True,
    type=AT_LEAST_1,
    help="--guard-cost, --designs: child processes per row, their batches pooled (a "
    "process's own code layout can shift a few-ns cost for its whole life).",
)
@json_output("results (trials, stderr excerpts)")
@click.option(
    "--timeout",
    "timeout_s",
    type=SECONDS,
    help="Seconds before a trial is declared hung [default: duration + 60].",
)
@runtime_option
@python_option
@timeline_option
def race(shared: bool, guard: str | None, matrix: bool, entry_races: tuple[str, ...], mode: str,
         threads: int, trials: int,
         duration_s: float, scenario_name: str, call_path: str, expect: str | None,
         guard_cost: bool, designs_study: bool, entries: tuple[str, ...],
         designs: tuple[str, ...], rounds: int, processes: int,
         output: str | None,
         timeout_s: float | None, runtimes: tuple[str, ...], pythons: tuple[str, ...],
         setup: tuple[str, ...],
         per_thread_setup: tuple[str, ...], stmt: str | None, code_name: str,
         patches: tuple[str, ...], timeline_path: str | None) -> None:  # fmt: skip
    """Call one Store from many threads and classify each trial: crashed, raised, hung, survived.

    Every trial is its own child process, so an abort is a row, never a dead harness.

    With --stmt, the threads run your statement instead (after --setup once, and
    --per-thread-setup in each thread): the statement runs alone first, and each result
    that differs from that reference is counted as wrong. Whether the threads share a Store
    is up to your code; --patch store-guard turns a shared one into StoreInUseError.
    """
    path = output_path(output)
    code = code_from(setup, per_thread_setup, stmt)
    _check_conflicts(code is not None, guard, guard_cost, designs_study, entry_races, patches)
    if timeline_path and (guard_cost or designs_study):
        raise OptionError("--timeline records a race's trials; --guard-cost and --designs price "
                          "the guards: drop one")  # fmt: skip
    if designs_study:
        res = _designs(rounds, processes, trials if _given("trials") else 3,
                       duration_s if _given("duration_s") else 2.0, runtimes, pythons, path,
                       code, code_name)  # fmt: skip
    elif guard_cost:
        if pythons:
            raise OptionError(
                "--guard-cost prices the guards under the harness's Python and Ruby; drop --python"
            )
        default = () if code is not None else ENTRIES  # a statement alone, unless asked
        res = _guard_cost(mode, rounds, processes, runtimes, path, entries or default,
                          designs or GUARDS, code, code_name)  # fmt: skip
    else:
        opts = _race_options(shared, guard, matrix, entry_races, mode, threads, trials,
                             duration_s, scenario_name, call_path, timeout_s, runtimes, pythons,
                             code, code_name, patches)  # fmt: skip
        if timeline_path:
            opts = replace(opts, timeline=Path(timeline_path))
        announce_runtimes(opts.runtimes)
        res = measure(RaceExperiment(opts), path)
    if output == "-":
        print_json(res.to_json())
    else:
        show_results(res)
    if timeline_path:
        err.print(f"[dim]timeline written to {timeline_path}[/dim]", soft_wrap=True)
    if expect and not guard_cost:
        problems = check_expectation(summarize(res.race), expect)
        for problem in problems:
            err.print(f"[red]expectation failed:[/red] {escape(problem)}", soft_wrap=True)
        if problems:
            sys.exit(EXIT_FAILED)


def _race_options(shared: bool, guard: str | None, matrix: bool, entry_races: tuple[str, ...],
                  mode: str, threads: int, trials: int, duration_s: float, scenario_name: str,
                  call_path: str, timeout_s: float | None, runtimes: tuple[str, ...],
                  pythons: tuple[str, ...], code: Code | None, code_name: str,
                  patches: tuple[str, ...]) -> RaceOptions:  # fmt: skip
    """What the race command races: the scenario's or the code's Store, or the entry races."""
    probed = interpreter.resolve_runtimes(runtimes, pythons)
    races = ENTRY_RACE_NAMES if "all" in entry_races else entry_races
    if races:
        configs = _entry_race_configs(guard, matrix, mode)
        scenario_name = ENTRY_SCENARIO
        threads = threads if _given("threads") else 2
    else:
        configs = (_code_configs(matrix, mode, patches) if code is not None
                   else _race_configs(shared, guard, matrix, mode, patches))  # fmt: skip
    return RaceOptions(
        scenario=scenario.find(scenario_name) if code is None else None,
        configs=configs, threads=threads, trials=trials,
        duration_s=duration_s, call_path=CallPath(call_path), timeout_s=timeout_s,
        runtimes=probed, code=code, name=code_name, entry_races=races,
    )  # fmt: skip


def _check_conflicts(code: bool, guard: str | None, guard_cost: bool, designs_study: bool,
                     entry_races: tuple[str, ...], patches: tuple[str, ...]) -> None:  # fmt: skip
    """Options that cannot go together, or would be ignored: one line each, before anything
    runs."""
    if code:
        _check_code_options(guard_cost, guard, "scenario_name")
    given = [flag for name, flag in (("entries", "--entry"), ("designs", "--design"),
                                     ("processes", "--processes")) if _given(name)]  # fmt: skip
    if given and not (guard_cost or designs_study):
        raise OptionError(f"{given[0]} chooses what --guard-cost prices; add --guard-cost")
    if entry_races and (guard_cost or designs_study):
        raise OptionError("--entry-race races; --guard-cost and --designs price (--designs "
                          "races every entry point already): give one")  # fmt: skip
    if entry_races:
        ignored = [flag for name, flag in (("call_path", "--call-path"),
                                           ("scenario_name", "--scenario"),
                                           ("shared", "--shared-store/--per-thread-store"))
                   if _given(name)]  # fmt: skip
        if patches:
            ignored.append("--patch (an entry race's guard is --guard DESIGN or --matrix)")
        if ignored:
            raise OptionError(f"--entry-race races its own module and Store, owner and "
                              f"intruders: drop {', '.join(ignored)}")  # fmt: skip
    if guard and any(p.startswith("store-guard") for p in patches):
        raise OptionError(f"--guard {guard} and --patch {', '.join(patches)} both guard the "
                          "Store: give one")  # fmt: skip
    _check_ignored(guard_cost, designs_study)


# What race reads in each of its ways: any other option given would be ignored, so it is one
# line instead (--guard-cost ignored --threads; --designs ran beside --guard-cost, --matrix).
_RACING = ("shared", "guard", "matrix", "threads", "trials", "duration_s", "scenario_name",
           "call_path", "expect", "timeout_s")  # fmt: skip
_NOT_READ = {
    "--designs": ("guard_cost", "mode", "entries", "designs", "shared", "guard", "matrix",
                  "threads", "scenario_name", "call_path", "expect", "timeout_s"),
    "--guard-cost": _RACING,
    "racing": ("rounds",),
}  # fmt: skip
_FLAGS = {"shared": "--shared-store/--per-thread-store", "duration_s": "--duration",
          "scenario_name": "--scenario", "call_path": "--call-path", "timeout_s": "--timeout",
          "guard_cost": "--guard-cost", "entries": "--entry", "designs": "--design"}  # fmt: skip


def _check_ignored(guard_cost: bool, designs_study: bool) -> None:
    way = "--designs" if designs_study else "--guard-cost" if guard_cost else "racing"
    given = [_FLAGS.get(name, f"--{name}") for name in _NOT_READ[way] if _given(name)]
    if given and way == "racing":
        raise OptionError(f"{given[0]} is for --guard-cost and --designs; add one, or drop it")
    if given:
        raise OptionError(f"{way} does not read {', '.join(given)}: drop "
                          f"{'it' if len(given) == 1 else 'them'}")  # fmt: skip


ENTRY_RACE_NAMES = tuple(ENTRY_RACES)


def _race_configs(shared: bool, guard: str | None, matrix: bool, mode: str,
                  patches: tuple[str, ...] = ()) -> tuple[RaceConfig, ...]:  # fmt: skip
    if matrix:  # released rows become free-threaded ones, and held goes, on a build with no GIL
        native_guard = (
            ()
            if native.unavailable_reason()
            else (RaceConfig("shared", True, Mode.RELEASED, "native", patches),)
        )
        return (RaceConfig("shared", False, Mode.RELEASED, patches=patches),
                RaceConfig("per-thread", False, Mode.RELEASED, patches=patches),
                RaceConfig("shared", True, Mode.RELEASED, patches=patches),
                *native_guard,
                RaceConfig("shared", False, Mode.HELD, patches=patches))  # fmt: skip
    store = "shared" if shared else "per-thread"
    return tuple(RaceConfig(store, guard is not None, m, guard or "python", patches)
                 for m in modes(mode))  # fmt: skip


def _entry_race_configs(guard: str | None, matrix: bool, mode: str) -> tuple[RaceConfig, ...]:
    """An entry race's configurations: unguarded, and under --guard's design; with --matrix,
    under every design (the native ones where the shim is built)."""
    if matrix:
        built = native.unavailable_reason() is None
        designs = tuple(d for d in GUARD_KINDS if built or d not in NATIVE)
    else:
        designs = (guard,) if guard else ()
    return tuple(RaceConfig("shared", g is not None, m, g or "python")
                 for m in modes(mode) for g in (None, *designs))  # fmt: skip


def _given(name: str) -> bool:
    source = click.get_current_context().get_parameter_source(name)
    return source is not click.core.ParameterSource.DEFAULT


def _code_configs(matrix: bool, mode: str, patches: tuple[str, ...]) -> tuple[RaceConfig, ...]:
    """A code target's configurations: its modes, with the patches; --matrix: released and
    held without a Store guard, and released under one (the --patch store-guard* given, or
    store-guard): what the guard makes of the race."""
    if matrix:
        others = tuple(p for p in patches if not p.startswith("store-guard"))
        guard = tuple(p for p in patches if p.startswith("store-guard")) or ("store-guard",)
        return (RaceConfig("code", False, Mode.RELEASED, patches=others),
                RaceConfig("code", False, Mode.HELD, patches=others),
                RaceConfig("code", False, Mode.RELEASED, patches=(*others, *guard)))  # fmt: skip
    return tuple(RaceConfig("code", False, m, patches=patches) for m in modes(mode))


def _designs(rounds: int, processes: int, trials: int, duration_s: float,
             runtimes: tuple[str, ...],
             pythons: tuple[str, ...], path: Path | None, code: Code | None,
             name: str) -> results.Results:  # fmt: skip
    """Cost, races and legal uses of every design, into one document."""
    if pythons:
        raise OptionError("--designs measures the harness's Python (and the other runtimes "
                          "here); drop --python")  # fmt: skip
    check_choices((), (), rounds)
    _, others = choose_runtimes(runtimes)
    announce_runtimes(others)
    found = designs_study.experiments(rounds, processes, trials, duration_s, others, code, name)
    with Bar() as bar:  # measure tells it every job once all are planned
        return designs_study.measure(found, path, bar)


def _check_code_options(guard_cost: bool, guard: str | None, scenario_param: str) -> None:
    """What --stmt cannot be combined with: one line each, before anything runs."""
    if _given(scenario_param):
        raise OptionError("give --scenario or --stmt, not both")
    if guard:
        raise OptionError("--guard wraps a scenario's calls; for code use --patch store-guard")


def _guard_cost(mode: str, rounds: int, processes: int, runtimes: tuple[str, ...],
                path: Path | None,
                entries: tuple[str, ...], designs: tuple[str, ...], code: Code | None = None,
                name: str = "code") -> results.Results:  # fmt: skip
    """Every design, entry point, path and mode; Ruby too when asked for, or (asked for
    nothing) where it runs; a statement, whole, under every design."""
    check_choices(entries, designs, rounds)
    measured = GIL_MODES if mode == "released" else modes(mode)
    python, others = choose_runtimes(runtimes) if entries else (False, ())
    announce_runtimes(others)
    paths = (CallPath.RAW, CallPath.LEAN, CallPath.STOCK) if python else ()
    experiment = GuardCostExperiment(paths, measured, rounds=rounds, others=others,
                                     entries=entries, guards=designs, code=code, name=name,
                                     processes=processes)  # fmt: skip
    return measure(experiment, path)
