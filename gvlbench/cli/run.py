"""`list`, `run`, `show` and `compile`: scenarios, and held vs released measured."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from gvlbench import results, scenario, wat
from gvlbench.binding import hosts
from gvlbench.cli.common import (
    AT_LEAST_0,
    AT_LEAST_1,
    THREADS,
    announce_runtimes,
    call_path_option,
    code_from,
    code_options,
    err,
    json_output_option,
    measure,
    modes,
    out,
    output_path,
    patch_option,
    print_json,
    python_option,
    runtime_option,
    timeline_option,
    timeout_option,
)
from gvlbench.cli.cost import show as show_costs
from gvlbench.errors import EXIT_FAILED, OptionError
from gvlbench.harness import interpreter
from gvlbench.harness.run import BUDGET_S, ROUNDS, RunExperiment, RunOptions
from gvlbench.harness.target import cpu_count
from gvlbench.modes import CHOICES
from gvlbench.protocol import CallPath, Mode, PyperfOptions
from gvlbench.report import busy, not_applicable, render, stats
from gvlbench.report import timeline as timeline_report
from gvlbench.report.designs import design_rows
from gvlbench.report.designs_table import designs_table, workload_lines
from gvlbench.report.gate import GateConfig
from gvlbench.report.guard_cost import guard_cost_rows
from gvlbench.report.phases import phases_rows
from gvlbench.report.pool import pool_rows
from gvlbench.report.race import summarize
from gvlbench.trace import report as trace_report


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the scenarios as JSON.")
def list_cmd(as_json: bool) -> None:
    """List the built-in scenarios, their exports and what each measures."""
    found = scenario.builtin()
    if as_json:
        print_json(
            [
                {
                    "name": s.name,
                    "export": s.export,
                    "args": list(s.args),
                    "description": s.description,
                    "measures": s.measures,
                    "imports": [f"{i.module}.{i.name}={i.host}" for i in s.imports],
                    "spec": str(s.spec_path),
                }
                for s in found
            ]
        )
        return
    from rich.table import Table

    table = Table(title="Scenarios")
    for col in ("name", "export(args)", "host imports", "measures"):
        table.add_column(col)
    for s in found:
        imports = ", ".join(f"{i.module}.{i.name}={i.host}" for i in s.imports) or "-"
        table.add_row(s.name, f"{s.export}({', '.join(map(str, s.args))})", imports, s.measures)
    out.print(table)
    out.print(f"host behaviours a spec may import: {', '.join(hosts.names())}")


@click.command()
@click.argument("scenario_name", metavar="[SCENARIO]", required=False)
@code_options
@patch_option
@click.option(
    "-t",
    "--threads",
    default=None,
    type=THREADS,
    help="Sweep 1, 2, 4, ... up to this many threads [default: CPU count].",
)
@click.option(
    "--mode",
    type=click.Choice([*CHOICES, "processes"]),
    default="both",
    show_default=True,
    help="Call with the GIL held, released, or both; `processes`: released threads vs a "
    "process pool on the same total work, start-up and memory included.",
)
@call_path_option
@python_option
@runtime_option
@click.option(
    "--pool-calls",
    default=20,
    show_default=True,
    type=AT_LEAST_1,
    help="--mode processes: calls per worker at the largest worker count (the total is fixed).",
)
@click.option(
    "--pool-repeats",
    default=4,
    show_default=True,
    type=AT_LEAST_1,
    help="--mode processes: jobs per (executor, workers), each in a fresh child.",
)
@json_output_option
@click.option("--fast", "preset", flag_value="fast", help="Fewer rounds: rough numbers.")
@click.option(
    "--rigorous", "preset", flag_value="rigorous", help="More rounds (and pyperf processes)."
)
@click.option(
    "--rounds",
    type=click.IntRange(min=3),
    help="Paired rounds: each times every (mode, threads) cell once [default: 20; --fast 10, "
    "--rigorous 60].",
)
@click.option("-p", "--processes", type=AT_LEAST_1, help="pyperf worker processes per measurement.")
@click.option("-n", "--values", type=AT_LEAST_1, help="pyperf values per worker process.")
@click.option(
    "--progress-repeats",
    default=5,
    show_default=True,
    type=AT_LEAST_0,
    help="Calls measured for counter progress per mode (0 skips the table).",
)
@click.option(
    "--phases/--no-phases",
    default=True,
    show_default=True,
    help="Also time compile, instantiate and call apart, per mode and thread count.",
)
@timeline_option
@timeout_option
def run(
    scenario_name: str,
    threads: int | None,
    mode: str,
    call_path: str,
    output: str | None,
    preset: str | None,
    processes: int | None,
    values: int | None,
    progress_repeats: int,
    timeout_s: float,
    pythons: tuple[str, ...],
    runtimes: tuple[str, ...],
    pool_calls: int,
    pool_repeats: int,
    phases: bool,
    setup: tuple[str, ...],
    per_thread_setup: tuple[str, ...],
    stmt: str | None,
    code_name: str,
    patches: tuple[str, ...],
    rounds: int | None,
    timeline_path: str | None,
) -> None:
    """Measure SCENARIO, or a Python statement, with the GIL held and released across
    thread counts.

    SCENARIO is a built-in name (see `gvlbench list`) or the path of a spec file. With
    --stmt (and --setup, --per-thread-setup) the statement is measured instead, calling
    wasmtime-py as your package does; held points wasmtime-py's own wasmtime_func_call at a
    handle that keeps the GIL, for the whole measuring process.
    """
    code = code_from(setup, per_thread_setup, stmt)
    if code is not None and scenario_name is not None:
        raise OptionError("give a SCENARIO or --stmt, not both")
    if code is None and scenario_name is None:
        raise OptionError("give a SCENARIO (see `gvlbench list`) or --stmt")
    probed = interpreter.resolve_runtimes(runtimes, pythons)
    base = PyperfOptions.preset(preset or "default")
    for name, value in (("--processes", processes), ("--values", values)):
        if value is not None and value < 1:
            raise click.BadParameter(f"must be at least 1, got {value}", param_hint=name)
    pyperf_opts = PyperfOptions(
        processes or base.processes, values or base.values, base.warmups, base.min_time
    )
    to_stdout = output == "-"
    opts = RunOptions(
        scenario=scenario.find(scenario_name) if scenario_name is not None else None,
        max_threads=threads if threads is not None else cpu_count(),
        modes=(Mode.RELEASED,) if mode == "processes" else modes(mode),
        call_path=CallPath(call_path),
        pyperf=pyperf_opts,
        progress_repeats=progress_repeats,
        timeout_s=timeout_s,
        runtimes=probed,
        pool=mode == "processes",
        pool_calls=pool_calls,
        pool_repeats=pool_repeats,
        phases=phases,
        code=code,
        name=code_name,
        patches=patches,
        rounds=rounds if rounds is not None else ROUNDS[preset or "default"],
        budget_s=BUDGET_S[preset or "default"],
        timeline=Path(timeline_path) if timeline_path else None,
    )
    announce_runtimes(probed)  # once the options hold: bad input stays a one-line error
    path = output_path(output)
    experiment = RunExperiment(opts)
    compiled = experiment.compiled  # compiles and validates, or probes: bad input fails here
    if opts.scenario is not None and compiled is not None:
        how = "a compiled .wasm, validated"
        if opts.scenario.wat_path:
            how = f"compiled by {compiled.compiler}"
        err.print(f"[dim]{escape(opts.scenario.source_path.name)} {how}[/dim]", soft_wrap=True)
    else:
        err.print("[dim]the code ran alone: setup, statement, statement in a thread[/dim]")
    res = measure(experiment, path)
    if to_stdout:
        print_json(res.to_json())
    else:
        show_results(res)
        if path:
            err.print(f"[dim]results written to {path}[/dim]", soft_wrap=True)
    if timeline_path:
        err.print(f"[dim]timeline written to {timeline_path} (open it in ui.perfetto.dev or "
                  "chrome://tracing)[/dim]", soft_wrap=True)  # fmt: skip
    if res.failures:
        sys.exit(EXIT_FAILED)


def show_timeline(res: results.Results) -> None:
    """A timeline's summaries: each thread's states, the sibling against its progress, and
    the recording's own cost."""
    table = timeline_report.thread_table(res.timeline)
    if table is not None:
        out.print(table)
    for line in [*timeline_report.sibling_lines(res.timeline),
                 *timeline_report.overhead_lines(res.timeline)]:  # fmt: skip
        out.print(line, markup=False, highlight=False)


@click.command("compile")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
def compile_cmd(sources: tuple[Path, ...]) -> None:
    """Compile WAT sources (default: every built-in one) into the content-hashed cache."""
    paths = list(sources) or sorted(scenario.data_dirs()[1].glob("*.wat"))
    for path in paths:
        compiled = wat.compile_wat(path)
        out.print(f"{path.name}: {compiled.wasm_path} ({compiled.compiler})", soft_wrap=True)


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the derived rows as JSON.")
def show(path: Path, as_json: bool) -> None:
    """Show the tables of a results file written by `gvlbench run --json`."""
    res = results.load(path)
    if as_json:
        print_json(
            {
                "speedup": render.rows_json(stats.speedup_rows(res)),
                "progress": render.rows_json(stats.progress_rows(res)),
                "phases": render.rows_json(phases_rows(res)),
            }
        )
        return
    show_results(res)


def show_results(res: results.Results) -> None:
    """Every table the results hold: speedup, phases, progress, race, guard cost, then
    failures."""
    cpus = int(res.metadata.get("usable_cpus") or cpu_count())
    line = not_applicable.binding_line(res.metadata)
    if line:
        out.print(line, soft_wrap=True, highlight=False)
    if res.command in ("calls", "sweep"):
        show_costs(res)
        return
    if res.command == "trace":
        for part in trace_report.report(res.trace):
            out.print(part, soft_wrap=isinstance(part, str), highlight=False)
        return
    if res.pool or any(f.get("kind") == "pool" for f in res.failures):
        out.print(render.pool_table(pool_rows(res)))
    cost_rows = guard_cost_rows(res)
    if cost_rows:
        out.print(render.guard_cost_table(cost_rows))
    if res.benchmarks or not (res.race or cost_rows or res.pool or res.profile):
        speedups = stats.speedup_rows(res)
        out.print(render.speedup_table(speedups, cpus, res.metadata.get("store", "")))
        patch_costs = stats.patch_cost_rows(speedups)
        if patch_costs:
            out.print(render.patch_cost_table(patch_costs))
    phases = phases_rows(res)
    if phases:
        out.print(render.phases_table(phases))
    if res.race:
        first = res.race[0]
        out.print(render.race_table(summarize(res.race), first["threads"], None))
    if res.legal_uses or any(g.get("entry") == "code" for g in res.guard_cost):
        rows = design_rows(res)
        out.print(designs_table(rows))
        for line in workload_lines(rows):
            out.print(line, soft_wrap=True, highlight=False)
    rows = stats.progress_rows(res)
    if rows:
        out.print(render.progress_table(rows))
    for line in render.misrouted_lines(rows):
        out.print(line, soft_wrap=True, highlight=False)
    skipped = not_applicable.table(res)
    if skipped is not None:
        out.print(skipped)
    for line in busy.control_lines(res, GateConfig()):
        out.print(line, markup=False, highlight=False)  # wrapped: COLUMNS is obeyed
    show_timeline(res)
    for line in render.failure_lines(res.failures):
        out.print(line, soft_wrap=True, markup=True, highlight=False)
