"""The click layer: parse, call the library, render. No measuring logic lives here.

Results go to stdout, diagnostics and progress to stderr. Every user error is one line on
stderr and exit code 2 (4 when the machine lacks what was asked for: the native guard without
a C compiler); a failed measurement or check is exit 1; our own bug is exit 3.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

import gvlbench
from gvlbench import files, lifecycle
from gvlbench.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERNAL, EXIT_OK, GvlbenchError


class _Cli(click.Group):
    """Turns every error into one line and a documented exit code; an output that could not
    be written is said last, after what the command measured (exit 2)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        _tolerant_streams()
        try:
            self._main(*args, **kwargs)
        except SystemExit as exc:
            _end(exc.code)
        _end(EXIT_OK)

    def _main(self, *args: Any, **kwargs: Any) -> Any:
        lifecycle.install()
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except SystemExit as exc:
            # rich (Console.on_broken_pipe) and click turn a closed stdout (`gvlbench show
            # results.json | head`) into exit 1, after pointing stdout at /dev/null: a reader
            # that stopped reading is not a failure of what was measured
            if exc.code == 1 and isinstance(exc.__context__, BrokenPipeError):
                sys.exit(EXIT_OK)
            raise
        except lifecycle.Terminated as exc:  # SIGTERM, SIGHUP: every child is dead by now
            _fail(f"terminated by {exc.name}; results measured so far are kept", EXIT_FAILED)
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


def _tolerant_streams() -> None:
    """A terminal or pipe that cannot encode a character (PYTHONIOENCODING=ascii, a C locale)
    gets an escape for it, not a UnicodeEncodeError in place of the report."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _end(code: Any) -> None:
    """Exit with `code`, or 2 after one line per output that could not be written. The
    report is said to be complete only when the command ended with one (0: measured, 1: a
    failure measured), not after an error line that replaced it."""
    lines = files.unwritten()
    after = " (the report above is complete)" if code in (None, EXIT_OK, EXIT_FAILED) else ""
    for line in lines:
        print(f"gvlbench: error: {line}{after}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT if lines else code)


def _fail(message: str, code: int) -> None:
    print(f"gvlbench: error: {message}", file=sys.stderr)
    sys.exit(code)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`--version`: the installed version, looked up only when asked (see gvlbench.__init__)."""
    if value and not ctx.resilient_parsing:
        click.echo(f"gvlbench, version {gvlbench.__version__}")
        ctx.exit()


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def main() -> None:
    """Measure and verify what happens when a Wasm call releases the interpreter lock."""


# The commands live in one module per concept; they are registered here, after `main` exists.
from gvlbench.cli import cost, gate, profile, race, run, trace, verify  # noqa: E402

for _command in (run.list_cmd, run.run, race.race, profile.profile, trace.trace, verify.verify,
                 cost.calls, cost.sweep,
                 gate.compare, gate.gate, gate.report, run.compile_cmd, run.show):  # fmt: skip
    main.add_command(_command)
