"""`calls` and `sweep`: what a call costs along each path, and where releasing the lock pays.

Thin like the rest of the CLI: parse, call calls.py or sweep.py, render, exit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from gvlbench import results, scenario
from gvlbench.cli.common import (
    FRACTION,
    THREADS,
    announce_runtimes,
    err,
    json_output_option,
    measure,
    mode_option,
    modes,
    one_python,
    out,
    output_path,
    print_json,
    python_option,
    timeout_option,
)
from gvlbench.errors import EXIT_FAILED
from gvlbench.harness import calls as calls_mod
from gvlbench.harness import sweep as sweep_mod
from gvlbench.protocol import CallPath
from gvlbench.report import calls as call_rows_mod
from gvlbench.report import render
from gvlbench.report import sweep as sweep_rows_mod


@click.command()
@click.option(
    "-s",
    "--scenario",
    "scenarios",
    multiple=True,
    metavar="NAME",
    help="Scenario to price (repeatable) [default: nop and add].",
)
@mode_option()
@click.option(
    "--rounds",
    default=calls_mod.ROUNDS,
    show_default=True,
    type=click.IntRange(min=3),
    help="Interleaved rounds per (call, mode); each round times one ~10 ms batch per path.",
)
@click.option(
    "-t",
    "--threads",
    type=THREADS,
    help="Also time each path as this many threads calling at once, each on its own Store, "
    f"for its scaling [default: 1; {calls_mod.FREE_THREADED_THREADS} on a free-threaded "
    "--python].",
)
@python_option
@json_output_option
@timeout_option
def calls(
    scenarios: tuple[str, ...],
    mode: str,
    rounds: int,
    threads: int | None,
    pythons: tuple[str, ...],
    output: str | None,
    timeout_s: float,
) -> None:
    """Per-call cost of each call path: floor, raw, lean and wasmtime-py's Func.__call__.

    Exit 1 when a measurement failed or the lean path misses its bars (within 1.3x of raw,
    at least 5x faster than Func.__call__). With --threads, or on a free-threaded --python,
    each path's scaling with threads too.
    """
    runtime = one_python(pythons, "calls")
    announce_runtimes((runtime,) if runtime else ())
    opts = calls_mod.CallsOptions(
        scenarios=tuple(scenario.find(s).name for s in scenarios) or calls_mod.DEFAULT_SCENARIOS,
        modes=modes(mode),
        rounds=rounds,
        timeout_s=timeout_s,
        threads=threads,
        runtime=runtime,
    )
    path = output_path(output)
    res = measure(calls_mod.CallsExperiment(opts), path)
    rows = call_rows_mod.call_rows(res)
    verdict = call_rows_mod.verdict(rows)
    if output == "-":
        print_json({**res.to_json(), "calls": render.rows_json(rows)})
    else:
        show(res)
        if path:
            err.print(f"[dim]results written to {path}[/dim]", soft_wrap=True)
    if res.failures or not (verdict.lean_ok and verdict.stock_ok):
        sys.exit(EXIT_FAILED)


@click.command()
@click.argument("scenario_name", metavar="SCENARIO", default="spin")
@click.option(
    "-t", "--threads", default=2, show_default=True, type=THREADS, help="Threads per call."
)
@click.option(
    "--sizes",
    metavar="N,N,...",
    help="Work sizes (the spec's work_arg) [default: 3,000 to 30,000,000, ~2 per decade].",
)
@click.option(
    "--call-path",
    "call_paths",
    multiple=True,
    type=click.Choice([p.value for p in CallPath.bindings()]),
    help="Call path to sweep (repeatable) [default: stock and lean].",
)
@click.option(
    "--min-gain",
    default=0.05,
    show_default=True,
    type=FRACTION,
    help="Released must beat held by this fraction, as well as significantly, to pay.",
)
@click.option(
    "--rounds",
    default=sweep_mod.ROUNDS,
    show_default=True,
    type=click.IntRange(min=3),
    help="Alternating held/released rounds per (size, path).",
)
@click.option("--plot", "plot_path", metavar="PATH", help="Also draw the sweep to PATH (PNG).")
@python_option
@json_output_option
@timeout_option
def sweep(
    scenario_name: str,
    threads: int,
    sizes: str | None,
    call_paths: tuple[str, ...],
    min_gain: float,
    rounds: int,
    plot_path: str | None,
    pythons: tuple[str, ...],
    output: str | None,
    timeout_s: float,
) -> None:
    """Released over held throughput per work size, and the crossover where releasing pays.

    SCENARIO (default spin) must declare a `work_arg` in its spec. On a free-threaded
    --python there is nothing to hold: each size pairs one thread with T threads instead,
    and the gain is how the work scales.
    """
    runtime = one_python(pythons, "sweep")
    announce_runtimes((runtime,) if runtime else ())
    opts = sweep_mod.SweepOptions(
        scenario=scenario.find(scenario_name),
        threads=threads,
        sizes=_parse_sizes(sizes) if sizes else sweep_mod.DEFAULT_SIZES,
        paths=tuple(CallPath(p) for p in call_paths) or CallPath.bindings(),
        rounds=rounds,
        min_gain=min_gain,
        timeout_s=timeout_s,
        runtime=runtime,
    )
    path = output_path(output)
    res = measure(sweep_mod.SweepExperiment(opts), path)
    rows = sweep_rows_mod.sweep_rows(res)
    if output == "-":
        doc = res.to_json()
        doc["sweep"] = {
            "rows": render.rows_json(rows),
            "crossover": {
                p: _size(sweep_rows_mod.crossover(rows, p)) for p in sweep_rows_mod.paths_in(rows)
            },
        }
        print_json(doc)
    else:
        show(res)
        if path:
            err.print(f"[dim]results written to {path}[/dim]", soft_wrap=True)
    if plot_path:
        from gvlbench.report.document import plot_sweep

        note = plot_sweep(res, Path(plot_path))
        err.print(f"[dim]{escape(note or 'plot written to ' + plot_path)}[/dim]", soft_wrap=True)
    if res.failures:
        sys.exit(EXIT_FAILED)


def _size(row: sweep_rows_mod.SweepRow | None) -> int | None:
    return row.size if row else None


def _parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s.replace("_", "")) for s in text.split(",") if s.strip())
    except ValueError:
        bad = f"not a list of integers: {text!r}"
        raise click.BadParameter(bad, param_hint="--sizes") from None
    if not sizes:
        raise click.BadParameter("no sizes given", param_hint="--sizes")
    return sizes


def show(res: results.Results) -> None:
    """The tables of a `calls` or `sweep` results document."""
    if res.command == "calls":
        rows = call_rows_mod.call_rows(res)
        out.print(render.calls_table(rows, call_rows_mod.verdict(rows)))
    else:
        rows_s = sweep_rows_mod.sweep_rows(res)
        out.print(render.sweep_table(rows_s, int(res.metadata.get("sweep_threads") or 0)))
        for line in render.crossover_lines(rows_s):
            out.print(line, highlight=False)
    for line in render.failure_lines(res.failures):
        out.print(line, soft_wrap=True, markup=True, highlight=False)
