"""`verify`: the GVL-release PR's correctness checks, run concurrently, per mode."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from gvlbench import files, scenario
from gvlbench.bindings import Feature
from gvlbench.checklist import CHECKS, PYTHON_ONLY
from gvlbench.cli.common import (
    AT_LEAST_1,
    SECONDS,
    THREADS,
    Bar,
    announce_runtimes,
    call_path_option,
    err,
    json_output,
    mode_option,
    modes,
    out,
    output_dir,
    output_file,
    patch_option,
    print_json,
    python_option,
    runtime_option,
)
from gvlbench.errors import EXIT_FAILED
from gvlbench.harness import interpreter
from gvlbench.harness.loop import execute
from gvlbench.harness.verify import VerifyExperiment, VerifyOptions, load_known
from gvlbench.protocol import CallPath
from gvlbench.report import junit, render
from gvlbench.report.verify import exit_ok, junit_cases


@click.command()
@mode_option(what="Run each check")
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
    type=AT_LEAST_1,
    help="Times each check runs in its child; the failure rate is over these.",
)
@click.option(
    "-t",
    "--threads",
    default=4,
    show_default=True,
    type=THREADS,
    help="Threads in the concurrent checks.",
)
@call_path_option
@click.option(
    "--junit", "junit_path", metavar="PATH", callback=output_file, help="Write JUnit XML to PATH."
)
@json_output("results")
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
    callback=output_dir,
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
    type=SECONDS,
    help="Seconds before a check's child is declared hung and killed.",
)
@runtime_option
@python_option
@patch_option
def verify(mode: str, checks: tuple[str, ...], repeat: int, threads: int, call_path: str,
           junit_path: str | None, output: str | None, known_path: str | None,
           findings_dir: str | None, sabotage: bool, timeout_s: float,
           runtimes: tuple[str, ...], pythons: tuple[str, ...],
           patches: tuple[str, ...]) -> None:  # fmt: skip
    """Run every correctness check of the GVL-release PR, truly concurrently, per mode.

    Exits 0 only when every failure is a known defect (see known-defects.toml).
    """
    path = None if output in (None, "-") else Path(output)
    probed = interpreter.resolve_runtimes(runtimes, pythons)
    findings = Path(findings_dir) if findings_dir else (
        path.parent / "findings" if path else Path("results") / "findings")  # fmt: skip
    opts = VerifyOptions(
        checks=checks or tuple(CHECKS), modes=modes(mode), repeat=repeat, threads=threads,
        call_path=CallPath(call_path), sabotage=sabotage, timeout_s=timeout_s, patches=patches,
        known=load_known(Path(known_path) if known_path else scenario.known_defects_path()),
        findings_dir=findings, runtimes=probed,
    )  # fmt: skip
    announce_runtimes(probed)
    skipped = [c for c in opts.checks if c in PYTHON_ONLY]
    for rt in (rt for rt in probed if not interpreter.binding_of(rt).has(Feature.BINDING_CHECKS)):
        if skipped:
            err.print(f"[dim]{escape(rt.label)}: not run, checks of wasmtime-py's own Python "
                      f"code: {escape(', '.join(skipped))}[/dim]", soft_wrap=True)  # fmt: skip
    experiment = VerifyExperiment(opts)
    jobs = experiment.plan()
    with Bar(len(jobs)) as bar:
        res = execute(experiment, output=path, progress=bar, jobs=jobs)
    checked = experiment.checked
    if junit_path:
        with files.reported_later(Path(junit_path), "--junit"):
            junit.write(Path(junit_path), "gvlbench.verify", junit_cases(checked))
    if output == "-":
        print_json(res.to_json())
    else:
        out.print(render.verify_table(checked))
        for line in render.verify_notes(checked):
            out.print(line, soft_wrap=True, highlight=False)
    if not exit_ok(checked):
        sys.exit(EXIT_FAILED)
