"""The click layer: parse, call the library, render. No measuring logic lives here.

Results go to stdout, diagnostics and progress to stderr. Every user error is one line on
stderr and exit code 2; a failed measurement or check is exit 1; our own bug is exit 3.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gvlbench import __version__, hosts, render, results, scenario, stats, wat
from gvlbench.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, GvlbenchError
from gvlbench.invoke import CallPath, Mode
from gvlbench.run import PyperfOptions, RunOptions, Step, cpu_count, execute, plan, prepare
from gvlbench.runner import ChildOutcome

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
    with _progress_bar(len(plan(opts))) as on_step:
        res = execute(prepared, on_step)
    if to_stdout:
        _print_json(res.to_json())
    else:
        _show(res)
        if opts.output:
            err.print(f"[dim]results written to {opts.output}[/dim]", soft_wrap=True)
    if res.failures:
        sys.exit(EXIT_FAILED)


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
    cpus = int(res.metadata.get("usable_cpus") or cpu_count())
    out.print(render.speedup_table(stats.speedup_rows(res), cpus))
    rows = stats.progress_rows(res)
    if rows:
        out.print(render.progress_table(rows))
    for line in render.failure_lines(res.failures):
        out.print(line, soft_wrap=True, markup=True, highlight=False)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=1) + "\n")
    sys.stdout.flush()


class _progress_bar:
    """A rich progress bar on stderr that shows what is running and what is left."""

    def __init__(self, total: int):
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self._task = self._progress.add_task("starting", total=total)

    def __enter__(self) -> Callable[[Step, ChildOutcome | None], None]:
        self._progress.__enter__()
        return self._on_step

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def _on_step(self, step: Step, outcome: ChildOutcome | None) -> None:
        label = step.label(step.kind and "")
        if outcome is None:
            self._progress.update(self._task, description=f"measuring {label.lstrip(', ')}")
            return
        self._progress.advance(self._task)
        if not outcome.ok:
            err.print(f"[red]{label.lstrip(', ')}: {outcome.describe()}[/red]")
