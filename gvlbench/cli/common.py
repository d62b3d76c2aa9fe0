"""What the commands share: where they write (results on stdout, diagnostics and progress on
stderr), the progress bar, and option helpers."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gvlbench import files
from gvlbench.errors import OptionError
from gvlbench.harness.interpreter import Runtime, resolve_runtimes, runtime_names
from gvlbench.harness.loop import Experiment, execute
from gvlbench.modes import CHOICES, Mode, requested
from gvlbench.protocol import CallPath, Code
from gvlbench.results import Results

# Not a terminal (a pipe, a file, a CI log): rich would cut tables at 80 columns ("crash…"),
# so use COLUMNS when set, else a width no table of ours exceeds. A terminal keeps its own.
PIPE_WIDTH = 240


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return Console(stderr=stderr, width=int(columns))
    if not stream.isatty():
        return Console(stderr=stderr, width=PIPE_WIDTH)
    return Console(stderr=stderr)


out = _console()
err = _console(stderr=True)

# Options several commands take, spelled once.
call_path_option = click.option(
    "--call-path",
    type=click.Choice([p.value for p in CallPath.bindings()]),
    default="stock",
    show_default=True,
    help="wasmtime-py's Func.__call__, or gvlbench's prepared call.",
)


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

MAX_SECONDS = 7 * 24 * 3600.0  # a week: beyond it a timer overflows (`inf` raised OverflowError)
MAX_THREADS = 1024


class Finite(click.ParamType):
    """A finite number in a range. nan slipped through every comparison (a race trial of nan
    seconds "survived" in 0.18 s, a trace timeout of nan never came) and inf overflowed a
    timer (a "raised OverflowError" trial): each is one line now."""

    def __init__(self, name: str, low: float, high: float, low_open: bool, words: str):
        self.name, self.low, self.high, self.low_open, self.words = name, low, high, low_open, words

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> float:  # fmt: skip
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        low_ok = number > self.low if self.low_open else number >= self.low
        if not (math.isfinite(number) and low_ok and number <= self.high):
            self.fail(f"must be {self.words}, got {value}", param, ctx)
        return number


SECONDS = Finite("seconds", 0.0, MAX_SECONDS, True, "a finite number of seconds, above 0 and "
                 f"at most {MAX_SECONDS:.0f} (a week)")  # fmt: skip
FRACTION = Finite("fraction", 0.0, 100.0, False, "a finite number from 0 to 100")
THREADS = click.IntRange(1, MAX_THREADS)
AT_LEAST_1 = click.IntRange(min=1)
AT_LEAST_0 = click.IntRange(min=0)


def mode_option(default: str = "both", what: str = "Call") -> Decorator:
    """`--mode held|released|both`, the lock axis every measuring command shares."""
    return click.option(
        "--mode",
        type=click.Choice(CHOICES),
        default=default,
        show_default=True,
        help=f"{what} with the GIL held, released, or both (a free-threaded --python has "
        "one mode, free-threaded).",
    )


runtime_option = click.option(
    "--runtime",
    "runtimes",
    multiple=True,
    type=click.Choice(runtime_names()),
    help="Which interpreter's lock to measure (repeatable): python (the GIL, default) or ruby "
    "(the GVL, through gvlbench's Ruby worker over ruby-ffi).",
)


python_option = click.option(
    "--python",
    "pythons",
    multiple=True,
    metavar="PATH",
    help="Run the measuring children under this interpreter (repeatable), e.g. a "
    "free-threaded 3.13t, whose one mode is free-threaded. It needs wasmtime and pyperf; "
    "gvlbench installs nothing into it.",
)


def one_python(pythons: tuple[str, ...], command: str) -> Runtime | None:
    """The one interpreter `calls`, `sweep` and `profile` measure under (their tables have
    no interpreter axis): probed, or None for the harness's own."""
    if len(pythons) > 1:
        raise OptionError(f"{command} measures one interpreter at a time: give --python once")
    return resolve_runtimes((), pythons)[0] if pythons else None


def announce_runtimes(runtimes: tuple[Any, ...]) -> None:
    """One dim line per runtime a plan will use, so the table's labels are explained."""
    for rt in runtimes:
        what = rt.describe()
        err.print(f"[dim]{escape(rt.label)}: {escape(rt.executable)} ({what})[/dim]",
                  soft_wrap=True)  # fmt: skip


def code_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--setup`, `--per-thread-setup`, `--stmt` and `--name`: a Python-code target, in the
    convention of `python -m timeit` (see docs/audit.md)."""
    for option in reversed((
        click.option("--setup", "setup", multiple=True, metavar="CODE",
                     help="Python run once per measuring process, before the statement "
                     "(repeatable; e.g. imports, a shared object)."),
        click.option("--per-thread-setup", "per_thread_setup", multiple=True, metavar="CODE",
                     help="Python run in each thread before its first statement, for state "
                     "that thread owns (repeatable)."),
        click.option("--stmt", metavar="CODE",
                     help="The Python statement measured, instead of a scenario; if it ends "
                     "in an expression, that is its result."),
        click.option("--name", "code_name", default="code", show_default=True,
                     help="What the code target's rows are called."),
    )):  # fmt: skip
        fn = option(fn)
    return fn


def code_from(setup: tuple[str, ...], per_thread_setup: tuple[str, ...],
              stmt: str | None) -> Code | None:  # fmt: skip
    """The code target the options give, or None; setup without a statement is an error."""
    if stmt is None:
        if setup or per_thread_setup:
            raise OptionError("--setup and --per-thread-setup need --stmt")
        return None
    return Code(stmt, tuple(setup), tuple(per_thread_setup))


patch_option = click.option(
    "--patch",
    "patches",
    multiple=True,
    metavar="NAME",
    help="Apply a binding patch to wasmtime-py in every measuring child (repeatable): "
    "store-guard (every Store entry point through the owner-thread guard), "
    "store-guard-native, -affinity or -mutex (the same in C: owner word, owner fixed at "
    "creation, or a waiting mutex) or "
    "thread-local-exceptions (a callback's exception handed over per thread).",
)


def output_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: an output file (`--json PATH`, `--junit PATH`) that cannot be
    written is one line before any work, not an error after it ('-' is stdout)."""
    if value not in (None, "-"):
        files.check_output(Path(value), _flag(param), stdout="--json" in param.opts)
    return value


def output_dir(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: the same for an output folder (`report --out DIR`)."""
    if value is not None:
        files.check_output(Path(value), _flag(param), directory=True)
    return value


def _flag(param: click.Parameter) -> str:
    return max(param.opts, key=len) if param.opts else str(param.name)


def json_output(what: str = "results (a pyperf-compatible JSON file)") -> Decorator:
    """`-o/--json PATH`: where a command writes `what`, or '-' for stdout; checked before
    any work (`output_file`)."""
    return click.option("-o", "--json", "output", metavar="PATH", callback=output_file,
                        help=f"Write {what} to PATH, or '-' for stdout.")  # fmt: skip


json_output_option = json_output()

timeline_option = click.option(
    "--timeline", "timeline_path", metavar="PATH", callback=output_file, type=click.Path(),
    help="Also record where each thread's time went (inside Wasm, waiting for the lock after "
    "a call or before a host callback, in a callback, in Python, waiting for a Store guard) "
    "and write it to PATH as trace-event JSON (open it in ui.perfetto.dev or chrome://tracing); "
    "the summary tables and the recording's own cost are printed.",
)  # fmt: skip
timeout_option = click.option(
    "--timeout",
    "timeout_s",
    default=300.0,
    show_default=True,
    type=SECONDS,
    help="Seconds before a measuring child is declared hung and killed.",
)


def modes(mode: str) -> tuple[Mode, ...]:
    """--mode held|released|both as the modes asked for (each interpreter then measures
    those it has: modes.for_interpreter)."""
    return requested(mode)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=1) + "\n")
    sys.stdout.flush()


class Bar:
    """A rich progress bar on stderr that shows what is running and what is left; it is the
    harness loop's `Progress` (loop.py)."""

    def __init__(self, total: int = 0):
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err, transient=True,
        )  # fmt: skip
        self._task = self._progress.add_task("starting", total=total)

    def __enter__(self) -> Bar:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def expect(self, jobs: int) -> None:
        total = self._progress.tasks[0].total or 0
        self._progress.update(self._task, total=total + jobs)

    def start(self, label: str) -> None:
        self._progress.update(self._task, description=label)

    def done(self, problem: str | None = None) -> None:
        self._progress.advance(self._task)
        if problem:
            err.print(f"[red]{escape(problem)}[/red]", soft_wrap=True)


def measure(experiment: Experiment, output: Path | None) -> Results:
    """Plan (bad input fails here, before any child), then run every job under a progress
    bar, the results file rewritten after each one."""
    jobs = experiment.plan()
    with Bar(len(jobs)) as bar:
        return execute(experiment, output=output, progress=bar, jobs=jobs)


def output_path(output: str | None) -> Path | None:
    """`--json PATH` as the file to keep rewritten; None for stdout ('-') or no file."""
    return None if output in (None, "-") else Path(output)
