"""What `gvlbench trace -- COMMAND` runs: the command's argv, under which interpreter.

The command is any Python program: a script (`app.py`), an interpreter (`python -m pkg`), or
an installed entry point (`pytest ...`). By default it runs as the user's shell would run it
(PATH, then the environment gvlbench itself runs from, so an unactivated venv's `pytest` is
found); `--python PATH` runs it under that interpreter instead: a script or `python ...` with
PATH itself, an entry point from PATH's own bin directory. Whatever cannot be run is one line
(OptionError) before anything starts.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass

from gvlbench.errors import OptionError
from gvlbench.harness.interpreter import Interpreter, probe

_PYTHON = re.compile(r"python(\d+(\.\d+)?t?)?$")
EXAMPLE = "gvlbench trace -- python app.py"


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    command: tuple[str, ...]  # as the user typed it
    runtime: Interpreter | None = None  # the probed --python, if given

    @property
    def display(self) -> str:
        return shlex.join(self.command)


def resolve(command: tuple[str, ...], python: str | None) -> Launch:
    """The argv to run for `command` (under `python`, if given); OptionError if it cannot."""
    if not command:
        raise OptionError(f"trace needs a command after --, e.g. {EXAMPLE}")
    runtime = probe(python) if python else None
    first, rest = command[0], command[1:]
    if python and "/" not in first and _PYTHON.fullmatch(first):
        return Launch((python, *rest), command, runtime)
    if first.endswith(".py"):
        if not os.path.isfile(first):
            raise OptionError(f"no such script: {first}")
        return Launch((python or sys.executable, first, *rest), command, runtime)
    return Launch((_program(first, python), *rest), command, runtime)


def _program(name: str, python: str | None) -> str:
    if "/" in name:
        if not os.path.isfile(name):
            raise OptionError(f"no such program: {name}")
        if not os.access(name, os.X_OK):
            raise OptionError(f"{name} is not executable")
        return name
    if python:
        found = shutil.which(name, path=os.path.dirname(os.path.abspath(python)))
        if not found:
            raise OptionError(
                f"--python {python}: its environment has no `{name}` (install it there, or "
                f"trace `python -m {name}`)"
            )
        return found
    found = shutil.which(name) or shutil.which(name, path=os.path.dirname(sys.executable))
    if not found:
        raise OptionError(f"no such program: {name} (not on PATH)")
    return found
