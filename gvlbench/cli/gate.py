"""`compare`, `gate` and `report`: results files compared, gated and drawn."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from gvlbench import files, results, scenario, timeline
from gvlbench.cli.common import (
    Bar,
    err,
    json_output,
    out,
    output_dir,
    output_file,
    print_json,
    python_option,
)
from gvlbench.errors import OptionError, ResultsFileError
from gvlbench.harness import gate as measure_gate
from gvlbench.report import compare as compare_mod
from gvlbench.report import document as report_mod
from gvlbench.report import gate as gate_mod
from gvlbench.report import junit, render


@click.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("current", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(base: Path, current: Path, as_json: bool) -> None:
    """Compare two results files row by row: change, significance, and the derived ratios."""
    rows, progress = compare_mod.compare(results.load(base), results.load(current))
    if as_json:
        print_json({"rows": render.rows_json(rows), "progress": render.rows_json(progress)})
        return
    out.print(render.compare_table(rows, base.name, current.name))
    if progress:
        out.print(render.progress_compare_table(progress, base.name, current.name))


@click.command()
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
@click.option(
    "--junit", "junit_path", metavar="PATH", callback=output_file, help="Write JUnit XML to PATH."
)
@click.option(
    "--markdown",
    "markdown_path",
    metavar="PATH",
    callback=output_file,
    help="Write the markdown summary to PATH (it is also appended to "
    "$GITHUB_STEP_SUMMARY when that is set).",
)
@json_output("the measured results and the verdicts")
@python_option
def gate(baseline_path: str, config_path: str | None, current_path: str | None,
         update_baseline: bool, junit_path: str | None, markdown_path: str | None,
         output: str | None, pythons: tuple[str, ...]) -> None:  # fmt: skip
    """Judge a run against invariants and a baseline: exit 0 pass, 1 regression, 2 error."""
    cfg = gate_mod.load_config(Path(config_path) if config_path else _default_gate_config())
    baseline_file = Path(baseline_path)
    if update_baseline:
        files.check_output(baseline_file, "--baseline")
    baseline = None if update_baseline else results.load(baseline_file)
    if current_path and pythons:
        raise OptionError("--current judges a file already measured; drop --python")
    if current_path:
        current = results.load(Path(current_path))
        rules = gate_mod.judge(cfg, current, baseline)
    else:
        with Bar() as bar:
            current, rules = measure_gate.measure_and_judge(cfg, baseline, bar, pythons)
    if not gate_mod.judged_anything(rules):
        what = f"--current {current_path}" if current_path else "what the config measured"
        raise ResultsFileError(f"{what}: nothing the gate judges (no speedup, progress, race or "
                               f"verify rows; a `{current.command}` results file)")  # fmt: skip
    verdicts = {"gate": render.rows_json(rules)}
    _write_outputs(rules, markdown_path, junit_path, output, current, verdicts)
    if output == "-":
        print_json({**current.to_json(), **verdicts})
    else:
        out.print(render.gate_table(rules))
    code = gate_mod.exit_code(rules)
    if update_baseline:
        if code:
            err.print("[red]not writing a baseline that fails its own invariants[/red]")
        else:
            with files.reported_later(baseline_file, "the baseline"):
                results.write_results(baseline_file, current)
                err.print(f"baseline written to {baseline_file}", soft_wrap=True)
    sys.exit(code)


def _write_outputs(rules: list[gate_mod.Rule], markdown_path: str | None,
                   junit_path: str | None, output: str | None, current: results.Results,
                   verdicts: dict[str, Any]) -> None:  # fmt: skip
    """The summary, JUnit and results files: one that cannot be written is said after the
    gate's table (exit 2), never in place of it."""
    summary = gate_mod.markdown(rules)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with (files.reported_later(Path(step_summary), "$GITHUB_STEP_SUMMARY"),
              open(step_summary, "a") as fh):  # fmt: skip
            fh.write(summary)
    if markdown_path:
        with files.reported_later(Path(markdown_path), "--markdown"):
            files.write_atomic(Path(markdown_path), summary)
    if junit_path:
        with files.reported_later(Path(junit_path), "--junit"):
            junit.write(Path(junit_path), "gvlbench.gate", gate_mod.junit_cases(rules))
    if output and output != "-":
        with files.reported_later(Path(output), "--json"):
            results.write_results(Path(output), current, verdicts)


def _named_timeline(res: results.Results) -> Path | None:
    """The timeline file a results file names (run --timeline records it), if it is there."""
    named = res.metadata.get("timeline")
    return Path(named) if named and Path(named).is_file() else None


def _default_gate_config() -> Path:
    return scenario.data_dirs()[0].parent / "gate.toml"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    default="results/report",
    show_default=True,
    metavar="DIR",
    callback=output_dir,
    help="Where the markdown page and the PNGs go.",
)
@click.option(
    "--timeline",
    "timeline_path",
    metavar="PATH",
    type=click.Path(path_type=Path),
    help="Draw a round of this timeline (from --timeline) too [default: the one the results "
    "file names, when it is there].",
)
@click.option(
    "--round",
    "round_no",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Which round of the timeline to draw (a caller with its sibling: which call).",
)
def report(paths: tuple[Path, ...], out_dir: str, timeline_path: Path | None,
           round_no: int) -> None:  # fmt: skip
    """Draw results files: speedup vs threads, sibling progress, race crash rates, and a
    round of a timeline (markdown + PNG).

    Several files are merged into one report (e.g. a run of spin and a race).
    """
    merged = results.Results(metadata={}, command="report")
    commands = set()
    for path in paths:
        part = results.load(path)
        commands.add(part.command)
        merged.extend(part)
    if len(commands) == 1:  # a sweep or calls file keeps what it is
        merged.command = commands.pop()
    found = timeline_path or _named_timeline(merged)
    drawn = timeline.load(found) if found is not None else None
    with files.reported_later(Path(out_dir), "the report in"):
        made = report_mod.write_report(merged, ", ".join(p.name for p in paths), Path(out_dir),
                                       drawn, round_no)  # fmt: skip
    if files.unwritten():
        return
    if made.note:
        err.print(f"[yellow]{made.note}[/yellow]")
    out.print(f"report: {made.markdown}", soft_wrap=True)
    for image in made.images:
        out.print(f"  {image}", soft_wrap=True)
