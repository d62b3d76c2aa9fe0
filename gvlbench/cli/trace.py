"""`trace`: run any Python program and say what in it breaks under threads (gvlbench/trace/)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from gvlbench import lifecycle
from gvlbench.cli.common import (
    SECONDS,
    err,
    json_output,
    out,
    output_file,
    output_path,
    print_json,
    timeline_option,
)
from gvlbench.cli.run import show_timeline
from gvlbench.errors import OptionError
from gvlbench.trace import report as trace_report
from gvlbench.trace.run import TraceOptions, prepare
from gvlbench.trace.run import trace as run_trace
from gvlbench.trace.verdict import summary_of, verdict


class _Status:
    """The status line on stderr, with the program's output relayed above it."""

    def __init__(self, command: str):
        self.command = command
        self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                  TimeElapsedColumn(), console=err, transient=True)  # fmt: skip
        self._task = self._progress.add_task(f"starting {command}")

    def __enter__(self) -> _Status:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def update(self, tally: dict[str, int], elapsed_s: float) -> None:
        line = trace_report.status_line(tally, self.command)
        self._progress.update(self._task, description=line)

    def output(self, lines: str, is_err: bool) -> None:
        """The program's output, a block of whole lines at a time: as it is where no status
        line is drawn (a pipe, a CI log), else through the console, above the status line."""
        if not err.is_terminal:
            err.file.write(lines + "\n")
            err.file.flush()
            return
        text = Text.from_ansi(lines) if "\x1b" in lines else Text(lines)
        err.print(text, soft_wrap=True, highlight=False)

    def step(self, text: str) -> None:
        self._progress.update(self._task, description=text)


@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})  # fmt: skip
@click.option(
    "--python",
    metavar="PATH",
    help="Run the command under this interpreter (a free-threaded 3.13t, say): "
    "a script or `python ...` with it, `pytest ...` from its environment.",
)
@click.option(
    "--refuse",
    is_flag=True,
    help="A thread entering a Store another thread is using gets StoreInUseError, "
    "as under --patch store-guard (default: it waits, so the program lives).",
)
@click.option(
    "--let-it-crash",
    "proceed",
    is_flag=True,
    help="Record overlaps and let them happen: the program may crash (its records survive).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=SECONDS,
    metavar="SECONDS",
    help="Stop the program after this long (SIGINT, then SIGKILL) and report. [default: none]",
)
@click.option(
    "--records",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Keep the hook's raw records (one JSON-lines file per process) here.",
)
@click.option(
    "--patch",
    "patches",
    multiple=True,
    metavar="NAME",
    help="Run the program under one of gvlbench's patches to wasmtime-py (repeatable), applied "
    "in every process of it as it imports wasmtime: thread-local-exceptions (a host "
    "callback's exception handed over per thread), store-guard (a second thread in a Store "
    "gets StoreInUseError), store-guard-native, -affinity or -mutex.",
)
@click.option(
    "--watch",
    "watch",
    multiple=True,
    metavar="MODULE:CLASS[.METHOD,...]",
    help="Also watch this class's objects (repeatable): two threads inside its methods (all "
    "public ones when none is named) at once is an overlap, as in a Store.",
)
@click.option("-q", "--quiet", is_flag=True, help="Do not relay the program's own output.")
@json_output("results (every row of the report)")
@click.option(
    "--junit",
    "junit_path",
    metavar="PATH",
    callback=output_file,
    help="Write JUnit XML to PATH: the program, and one failed test case per finding.",
)
@timeline_option
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="-- COMMAND [ARGS]...")
def trace(python: str | None, refuse: bool, proceed: bool, timeout_s: float | None,
          records: Path | None, patches: tuple[str, ...], watch: tuple[str, ...], quiet: bool,
          output: str | None, junit_path: str | None, timeline_path: str | None,
          command: tuple[str, ...]) -> None:  # fmt: skip
    """Run a Python program and say what in it breaks under threads: every object two threads
    must not be inside at once (wasmtime-py's Stores, core and component, extism's Plugins, a
    compiled extension's codecs, any class --watch names), who made and entered each, calls
    that overlapped (with both stacks); a host callback's exception taken by another thread's
    call; Modules compiled again from the same bytes and Engines made per call. For each
    finding, its fix and a `gvlbench race` command that reproduces it; under pytest, the tests
    it happened in, and how many tests pytest-run-parallel ran in threads.

    COMMAND is a script, `python -m ...` or `pytest ...`, after `--`. Exit 0: the program
    exited 0 and nothing was found; 1: a finding, or the program failed (an exit code, a
    signal, --timeout), or Ctrl-C (SIGTERM, SIGHUP) stopped the trace, which is still
    reported; 2: bad input, a program that ran no Wasm at all included.
    """
    if refuse and proceed:
        raise OptionError("give --refuse or --let-it-crash, not both")
    on_overlap = "refuse" if refuse else "proceed" if proceed else "wait"
    opts = TraceOptions(command, python, on_overlap, timeout_s, records, output_path(output),
                        quiet, patches, watch, Path(junit_path) if junit_path else None,
                        Path(timeline_path) if timeline_path else None)  # fmt: skip
    launch = prepare(opts)
    with _Status(launch.display) as status:
        res = run_trace(opts, status, launch)
    code, _ = verdict(res.trace)
    if output == "-":
        print_json(res.to_json())
    else:
        for part in trace_report.report(res.trace):
            out.print(part, soft_wrap=isinstance(part, str), highlight=False)
        show_timeline(res)
    interrupted = summary_of(res.trace).get("interrupted", "")
    if interrupted.startswith("SIGINT"):  # reported: now end as every command does
        raise click.Abort()
    if interrupted:
        raise lifecycle.Terminated(signal.Signals[interrupted.split()[0]])
    sys.exit(code)
