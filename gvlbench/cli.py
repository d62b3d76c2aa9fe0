"""The click layer: parse, call the library, render. No measuring logic lives here.

Results go to stdout, diagnostics and progress to stderr. Every user error is one line on
stderr and exit code 2; a failed measurement or check is exit 1; our own bug is exit 3.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gvlbench import __version__, hosts, junit, render, results, scenario, stats, wat
from gvlbench import compare as compare_mod
from gvlbench import gate as gate_mod
from gvlbench import guard_cost as guard_cost_mod
from gvlbench import report as report_mod
from gvlbench.checks import CHECKS
from gvlbench.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, GvlbenchError
from gvlbench.invoke import CallPath, Mode
from gvlbench.race import RaceConfig, RaceOptions, check_expectation, execute_race, summarize
from gvlbench.run import PyperfOptions, RunOptions, Step, cpu_count, execute, plan, prepare
from gvlbench.runner import ChildOutcome
from gvlbench.verify import (
    CheckResult,
    VerifyOptions,
    execute_verify,
    exit_ok,
    junit_cases,
    load_known,
)

out = Console()
err = Console(stderr=True)


class _Cli(click.Group):
    """Turns every error into one line and a documented exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            _fail("aborted", EXIT_FAILED)
        except click.ClickException as exc:  # usage errors: bad option value, unknown command
            _fail(f"bad option: {exc.format_message()}", EXIT_BAD_INPUT)
        except GvlbenchError as exc:
            _fail(f"{exc.kind}: {exc}", exc.exit_code)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_OK)
        except Exception as exc:
            if os.environ.get("GVLBENCH_DEBUG"):
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {exc} (GVLBENCH_DEBUG=1 shows more)",
                EXIT_INTERNAL,
            )


def _fail(message: str, code: int) -> None:
    print(f"gvlbench: error: {message}", file=sys.stderr)
    sys.exit(code)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gvlbench")
def main() -> None:
    """Measure and verify what happens when a Wasm call releases the interpreter lock."""


@main.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the scenarios as JSON.")
def list_cmd(as_json: bool) -> None:
    """List the built-in scenarios, their exports and what each measures."""
    found = scenario.builtin()
    if as_json:
        _print_json(
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


@main.command()
@click.argument("scenario_name", metavar="SCENARIO")
@click.option(
    "-t",
    "--threads",
    default=None,
    type=int,
    help="Sweep 1, 2, 4, ... up to this many threads [default: CPU count].",
)
@click.option(
    "--mode",
    type=click.Choice(["held", "released", "both"]),
    default="both",
    show_default=True,
    help="Call with the GIL held, released, or both.",
)
@click.option(
    "--call-path",
    type=click.Choice([p.value for p in CallPath]),
    default="stock",
    show_default=True,
    help="wasmtime-py's Func.__call__, or gvlbench's prepared call.",
)
@click.option(
    "-o",
    "--json",
    "output",
    metavar="PATH",
    help="Write results (a pyperf-compatible JSON file) to PATH, or '-' for stdout.",
)
@click.option("--fast", "preset", flag_value="fast", help="Fewer pyperf processes: rough numbers.")
@click.option("--rigorous", "preset", flag_value="rigorous", help="More processes and values.")
@click.option("-p", "--processes", type=int, help="pyperf worker processes per measurement.")
@click.option("-n", "--values", type=int, help="pyperf values per worker process.")
@click.option(
    "--progress-repeats",
    default=5,
    show_default=True,
    type=int,
    help="Calls measured for counter progress per mode (0 skips the table).",
)
@click.option(
    "--timeout",
    "timeout_s",
    default=300.0,
    show_default=True,
    type=float,
    help="Seconds before a measuring child is declared hung and killed.",
)
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
) -> None:
    """Measure SCENARIO with the GIL held and released across thread counts.

    SCENARIO is a built-in name (see `gvlbench list`) or the path of a spec file.
    """
    base = PyperfOptions.preset(preset or "default")
    for name, value in (("--processes", processes), ("--values", values)):
        if value is not None and value < 1:
            raise click.BadParameter(f"must be at least 1, got {value}", param_hint=name)
    pyperf_opts = PyperfOptions(
        processes or base.processes, values or base.values, base.warmups, base.min_time
    )
    to_stdout = output == "-"
    opts = RunOptions(
        scenario=scenario.find(scenario_name),
        max_threads=threads if threads is not None else cpu_count(),
        modes=(Mode.HELD, Mode.RELEASED) if mode == "both" else (Mode(mode),),
        call_path=CallPath(call_path),
        pyperf=pyperf_opts,
        progress_repeats=progress_repeats,
        timeout_s=timeout_s,
        output=None if output in (None, "-") else Path(output),
    )
    prepared = prepare(opts)
    err.print(f"[dim]{opts.scenario.wat_path.name} compiled by {prepared.compiled.compiler}[/dim]")
    with _Bar(len(plan(opts))) as bar:
        res = execute(prepared, bar.on_step)
    if to_stdout:
        _print_json(res.to_json())
    else:
        _show(res)
        if opts.output:
            err.print(f"[dim]results written to {opts.output}[/dim]", soft_wrap=True)
    if res.failures:
        sys.exit(EXIT_FAILED)


@main.command()
@click.option(
    "--shared-store/--per-thread-store",
    "shared",
    default=True,
    show_default=True,
    help="All threads call one Store (the hazard), or each owns one (the control).",
)
@click.option("--guard", is_flag=True, help="Put the Store guard around every call.")
@click.option(
    "--matrix",
    is_flag=True,
    help="Race every configuration in one table: shared, per-thread, shared with "
    "the guard, and shared with the lock held.",
)
@click.option(
    "--mode",
    type=click.Choice(["held", "released", "both"]),
    default="released",
    show_default=True,
    help="Call with the GIL held, released, or both.",
)
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
@click.option(
    "--call-path",
    type=click.Choice([p.value for p in CallPath]),
    default="stock",
    show_default=True,
    help="wasmtime-py's Func.__call__, or gvlbench's prepared call.",
)
@click.option(
    "--expect",
    type=click.Choice(["crash", "safe"]),
    help="Exit 1 unless every configuration crashed at least once (crash) or none "
    "crashed, hung or failed (safe).",
)
@click.option(
    "--guard-cost",
    is_flag=True,
    help="Instead of racing, measure the guard's cost per call (nop and add, held "
    "and released, stock and lean paths).",
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
def race(shared: bool, guard: bool, matrix: bool, mode: str, threads: int, trials: int,
         duration_s: float, scenario_name: str, call_path: str, expect: str | None,
         guard_cost: bool, output: str | None,
         timeout_s: float | None) -> None:  # fmt: skip
    """Call one Store from many threads and classify each trial: crashed, raised, hung, survived.

    Every trial is its own child process, so an abort is a row, never a dead harness.
    """
    path = None if output in (None, "-") else Path(output)
    if guard_cost:
        res = _guard_cost(mode, path)
    else:
        opts = RaceOptions(
            scenario=scenario.find(scenario_name),
            configs=_race_configs(shared, guard, matrix, mode), threads=threads, trials=trials,
            duration_s=duration_s, call_path=CallPath(call_path), timeout_s=timeout_s,
            output=path,
        )  # fmt: skip
        with _Bar(len(opts.configs) * opts.trials) as bar:
            res = execute_race(opts, lambda c, i, t: _on_trial(bar, opts, c, i, t))
    if output == "-":
        _print_json(res.to_json())
    else:
        _show(res)
    if expect and not guard_cost:
        problems = check_expectation(summarize(res.race), expect)
        for problem in problems:
            err.print(f"[red]expectation failed:[/red] {escape(problem)}", soft_wrap=True)
        if problems:
            sys.exit(EXIT_FAILED)


def _race_configs(shared: bool, guard: bool, matrix: bool, mode: str) -> tuple[RaceConfig, ...]:
    if matrix:
        return (RaceConfig("shared", False, Mode.RELEASED),
                RaceConfig("per-thread", False, Mode.RELEASED),
                RaceConfig("shared", True, Mode.RELEASED),
                RaceConfig("shared", False, Mode.HELD))  # fmt: skip
    store = "shared" if shared else "per-thread"
    return tuple(RaceConfig(store, guard, m) for m in _modes(mode))


def _modes(mode: str) -> tuple[Mode, ...]:
    return (Mode.HELD, Mode.RELEASED) if mode == "both" else (Mode(mode),)


def _on_trial(bar: _Bar, opts: RaceOptions, config: RaceConfig, i: int, trial: Any) -> None:
    if trial is None:
        bar.start(f"{config.label()}: trial {i + 1}/{opts.trials}")
    else:
        bar.done()


def _guard_cost(mode: str, path: Path | None) -> results.Results:
    modes = (Mode.HELD, Mode.RELEASED) if mode == "released" else _modes(mode)
    paths = (CallPath.STOCK, CallPath.LEAN)
    res = results.Results(metadata={}, command="race --guard-cost")
    with _Bar(guard_cost_mod.plan_size(paths, modes)) as bar:

        def on_step(label: str, outcome: ChildOutcome | None) -> None:
            if outcome is None:
                bar.start(label)
            else:
                bar.done(None if outcome.ok else f"{label}: {outcome.describe()}")

        guard_cost_mod.execute_guard_cost(paths, modes, on_step, res)
    if path:
        results.write_atomic(path, res)
    return res


@main.command()
@click.option(
    "--mode",
    type=click.Choice(["held", "released", "both"]),
    default="both",
    show_default=True,
    help="Run each check with the GIL held, released, or both.",
)
@click.option(
    "--check",
    "checks",
    multiple=True,
    metavar="NAME",
    help=f"Run only this check (repeatable): {', '.join(CHECKS)}.",
)
@click.option(
    "--repeat",
    default=5,
    show_default=True,
    type=int,
    help="Times each check runs in its child; the failure rate is over these.",
)
@click.option(
    "-t",
    "--threads",
    default=4,
    show_default=True,
    type=int,
    help="Threads in the concurrent checks.",
)
@click.option(
    "--call-path",
    type=click.Choice([p.value for p in CallPath]),
    default="stock",
    show_default=True,
    help="wasmtime-py's Func.__call__, or gvlbench's prepared call.",
)
@click.option("--junit", "junit_path", metavar="PATH", help="Write JUnit XML to PATH.")
@click.option(
    "-o", "--json", "output", metavar="PATH", help="Write results to PATH, or '-' for stdout."
)
@click.option(
    "--known-defects",
    "known_path",
    metavar="PATH",
    help="Known-defects file [default: the one shipped with gvlbench].",
)
@click.option(
    "--findings",
    "findings_dir",
    metavar="DIR",
    help="Where reproducers of failing checks go [default: findings/ beside --json, "
    "else results/findings].",
)
@click.option(
    "--sabotage",
    is_flag=True,
    help="Break the binding or host on purpose in each check, to prove it can fail.",
)
@click.option(
    "--timeout",
    "timeout_s",
    default=120.0,
    show_default=True,
    type=float,
    help="Seconds before a check's child is declared hung and killed.",
)
def verify(mode: str, checks: tuple[str, ...], repeat: int, threads: int, call_path: str,
           junit_path: str | None, output: str | None, known_path: str | None,
           findings_dir: str | None, sabotage: bool, timeout_s: float) -> None:  # fmt: skip
    """Run every correctness check of the GVL-release PR, truly concurrently, per mode.

    Exits 0 only when every failure is a known defect (see known-defects.toml).
    """
    path = None if output in (None, "-") else Path(output)
    findings = Path(findings_dir) if findings_dir else (
        path.parent / "findings" if path else Path("results") / "findings")  # fmt: skip
    opts = VerifyOptions(
        checks=checks or tuple(CHECKS), modes=_modes(mode), repeat=repeat, threads=threads,
        call_path=CallPath(call_path), sabotage=sabotage, timeout_s=timeout_s,
        known=load_known(Path(known_path) if known_path else scenario.known_defects_path()),
        findings_dir=findings, output=path,
    )  # fmt: skip
    with _Bar(len(opts.checks) * len(opts.modes)) as bar:

        def on_check(check: str, mode_: str, result: CheckResult | None) -> None:
            if result is None:
                bar.start(f"checking {check} [{mode_}]")
            else:
                bar.done()

        res, checked = execute_verify(opts, on_check)
    if junit_path:
        junit.write(Path(junit_path), "gvlbench.verify", junit_cases(checked))
    if output == "-":
        _print_json(res.to_json())
    else:
        out.print(render.verify_table(checked))
        for line in render.verify_notes(checked):
            out.print(line, soft_wrap=True, highlight=False)
    if not exit_ok(checked):
        sys.exit(EXIT_FAILED)


@main.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("current", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(base: Path, current: Path, as_json: bool) -> None:
    """Compare two results files row by row: change, significance, and the derived ratios."""
    rows, progress = compare_mod.compare(results.load(base), results.load(current))
    if as_json:
        _print_json({"rows": render.rows_json(rows), "progress": render.rows_json(progress)})
        return
    out.print(render.compare_table(rows, base.name, current.name))
    if progress:
        out.print(render.progress_compare_table(progress, base.name, current.name))


@main.command()
@click.option(
    "--baseline",
    "baseline_path",
    metavar="PATH",
    required=True,
    help="The baseline results file (written by --update-baseline).",
)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Gate config: what to measure, invariants, tolerances [default: gate.toml].",
)
@click.option(
    "--current",
    "current_path",
    metavar="PATH",
    help="Judge this results file instead of measuring now.",
)
@click.option(
    "--update-baseline",
    is_flag=True,
    help="Measure, check the invariants, and write the results as the new baseline.",
)
@click.option("--junit", "junit_path", metavar="PATH", help="Write JUnit XML to PATH.")
@click.option(
    "--markdown",
    "markdown_path",
    metavar="PATH",
    help="Write the markdown summary to PATH (it is also appended to "
    "$GITHUB_STEP_SUMMARY when that is set).",
)
@click.option(
    "-o",
    "--json",
    "output",
    metavar="PATH",
    help="Write the measured results and the verdicts to PATH, or '-' for stdout.",
)
def gate(baseline_path: str, config_path: str | None, current_path: str | None,
         update_baseline: bool, junit_path: str | None, markdown_path: str | None,
         output: str | None) -> None:  # fmt: skip
    """Judge a run against invariants and a baseline: exit 0 pass, 1 regression, 2 error."""
    cfg = gate_mod.load_config(Path(config_path) if config_path else _default_gate_config())
    baseline_file = Path(baseline_path)
    baseline = None if update_baseline else results.load(baseline_file)
    if current_path:
        current = results.load(Path(current_path))
        rules = gate_mod.judge(cfg, current, baseline)
    else:
        with _Bar(_gate_steps(cfg)) as bar:
            current, rules = gate_mod.measure_and_judge(
                cfg, baseline, lambda label, done: bar.done() if done else bar.start(label)
            )
    summary = gate_mod.markdown(rules)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a") as fh:
            fh.write(summary)
    if markdown_path:
        Path(markdown_path).write_text(summary)
    if junit_path:
        junit.write(Path(junit_path), "gvlbench.gate", gate_mod.junit_cases(rules))
    if output == "-":
        _print_json({**current.to_json(), "gate": render.rows_json(rules)})
    else:
        if output:
            results.write_atomic(Path(output), current)
        out.print(render.gate_table(rules))
    code = gate_mod.exit_code(rules)
    if update_baseline:
        if code:
            err.print("[red]not writing a baseline that fails its own invariants[/red]")
        else:
            results.write_atomic(baseline_file, current)
            err.print(f"baseline written to {baseline_file}", soft_wrap=True)
    sys.exit(code)


def _default_gate_config() -> Path:
    return scenario.data_dirs()[0].parent / "gate.toml"


def _gate_steps(cfg: gate_mod.GateConfig) -> int:
    from gvlbench.run import thread_sweep

    per_scenario = 2 * len(thread_sweep(cfg.threads)) + (2 if cfg.progress_repeats else 0)
    verify = len(CHECKS) * 2 if cfg.verify_repeat else 0
    return len(cfg.scenarios) * per_scenario + 2 * cfg.race_trials + verify


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    default="results/report",
    show_default=True,
    metavar="DIR",
    help="Where the markdown page and the PNGs go.",
)
def report(paths: tuple[Path, ...], out_dir: str) -> None:
    """Draw results files: speedup vs threads, sibling progress, race crash rates (markdown + PNG).

    Several files are merged into one report (e.g. a run of spin and a race).
    """
    merged = results.Results(metadata={}, command="report")
    for path in paths:
        part = results.load(path)
        merged.metadata = merged.metadata or part.metadata
        merged.benchmarks += part.benchmarks
        merged.progress += part.progress
        merged.race += part.race
    made = report_mod.write_report(merged, ", ".join(p.name for p in paths), Path(out_dir))
    if made.note:
        err.print(f"[yellow]{made.note}[/yellow]")
    out.print(f"report: {made.markdown}", soft_wrap=True)
    for image in made.images:
        out.print(f"  {image}", soft_wrap=True)


@main.command("compile")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
def compile_cmd(sources: tuple[Path, ...]) -> None:
    """Compile WAT sources (default: every built-in one) into the content-hashed cache."""
    paths = list(sources) or sorted(scenario.data_dirs()[1].glob("*.wat"))
    for path in paths:
        compiled = wat.compile_wat(path)
        out.print(f"{path.name}: {compiled.wasm_path} ({compiled.compiler})", soft_wrap=True)


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the derived rows as JSON.")
def show(path: Path, as_json: bool) -> None:
    """Show the tables of a results file written by `gvlbench run --json`."""
    res = results.load(path)
    if as_json:
        _print_json(
            {
                "speedup": render.rows_json(stats.speedup_rows(res)),
                "progress": render.rows_json(stats.progress_rows(res)),
            }
        )
        return
    _show(res)


def _show(res: results.Results) -> None:
    """Every table the results hold: speedup, progress, race, guard cost, then failures."""
    cpus = int(res.metadata.get("usable_cpus") or cpu_count())
    cost_rows = guard_cost_mod.guard_cost_rows(res)
    if cost_rows:
        out.print(render.guard_cost_table(cost_rows))
    if res.benchmarks or not (res.race or cost_rows):
        out.print(render.speedup_table(stats.speedup_rows(res), cpus))
    if res.race:
        first = res.race[0]
        out.print(render.race_table(summarize(res.race), first["threads"], None))
    rows = stats.progress_rows(res)
    if rows:
        out.print(render.progress_table(rows))
    for line in render.failure_lines(res.failures):
        out.print(line, soft_wrap=True, markup=True, highlight=False)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=1) + "\n")
    sys.stdout.flush()


class _Bar:
    """A rich progress bar on stderr that shows what is running and what is left."""

    def __init__(self, total: int):
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err, transient=True,
        )  # fmt: skip
        self._task = self._progress.add_task("starting", total=total)

    def __enter__(self) -> _Bar:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def start(self, label: str) -> None:
        self._progress.update(self._task, description=label)

    def done(self, problem: str | None = None) -> None:
        self._progress.advance(self._task)
        if problem:
            err.print(f"[red]{escape(problem)}[/red]", soft_wrap=True)

    def on_step(self, step: Step, outcome: ChildOutcome | None) -> None:
        """The callback `run.execute` takes."""
        label = step.label()
        if outcome is None:
            self.start(f"measuring {label}")
        else:
            self.done(None if outcome.ok else f"{label}: {outcome.describe()}")
