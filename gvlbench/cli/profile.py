"""`profile`: where one Python statement's time goes inside wasmtime-py, per mode."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gvlbench.cli.common import (
    AT_LEAST_1,
    SECONDS,
    code_from,
    code_options,
    err,
    json_output,
    measure,
    mode_option,
    modes,
    one_python,
    out,
    output_path,
    patch_option,
    print_json,
    python_option,
    timeline_option,
    timeout_option,
)
from gvlbench.cli.run import show_timeline
from gvlbench.errors import EXIT_FAILED, OptionError
from gvlbench.harness.profile import ProfileExperiment, ProfileOptions
from gvlbench.report import not_applicable, render
from gvlbench.report import profile as report


@click.command()
@code_options
@patch_option
@mode_option()
@click.option(
    "--budget",
    "budget_s",
    default=2.0,
    show_default=True,
    type=SECONDS,
    help="Seconds of steady-state runs per mode (half plain, half hooked).",
)
@click.option(
    "--rounds",
    default=5,
    show_default=True,
    type=AT_LEAST_1,
    help="Rounds of a plain batch then a hooked batch.",
)
@python_option
@json_output("results")
@timeout_option
@timeline_option
def profile(setup: tuple[str, ...], per_thread_setup: tuple[str, ...], stmt: str | None,
            code_name: str, patches: tuple[str, ...], mode: str, budget_s: float, rounds: int,
            pythons: tuple[str, ...], output: str | None, timeout_s: float,
            timeline_path: str | None) -> None:  # fmt: skip
    """Where a statement's time goes: compiling, instantiating, inside Wasm calls, the
    binding's other calls, host callbacks, and Python outside the binding.

    Single thread, one child per mode (and per patch set, with --patch). The hooks sit on
    wasmtime-py's public classes; the table says how much they slowed the statement.
    """
    code = code_from(setup, per_thread_setup, stmt)
    if code is None:
        raise OptionError("profile needs --stmt (and usually --setup)")
    runtime = one_python(pythons, "profile")
    opts = ProfileOptions(code=code, modes=modes(mode), name=code_name, patches=patches,
                          budget_s=budget_s, rounds=rounds, timeout_s=timeout_s,
                          runtime=runtime,
                          timeline=Path(timeline_path) if timeline_path else None)  # fmt: skip
    res = measure(ProfileExperiment(opts), output_path(output))
    summaries = report.summaries(res)
    if output == "-":
        print_json({**res.to_json(), "summary": [report.to_json(s) for s in summaries]})
    else:
        line = not_applicable.binding_line(res.metadata)
        if line:
            out.print(line, soft_wrap=True, highlight=False)
        for summary in summaries:
            out.print(report.table(summary))
        skipped = not_applicable.table(res)
        if skipped is not None:
            out.print(skipped)
        show_timeline(res)
        for line in render.failure_lines(res.failures):
            err.print(line, soft_wrap=True, markup=True, highlight=False)
    if res.failures:
        sys.exit(EXIT_FAILED)
