"""Which Python runs the measuring children, and what it is.

By default the children run under the harness's own interpreter. `--python PATH` names
another one (a pyenv 3.13, a free-threaded 3.13t): it is probed once in the harness, in a
child of its own, for its version, its GIL status and the two packages a worker needs
(wasmtime and pyperf). gvlbench itself is never installed into it: the children find the
package through PYTHONPATH. Nothing is installed silently; what is missing is named in one
line with the command that would add it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gvlbench.errors import InterpreterError

NEEDED = ("wasmtime", "pyperf")
PIP_SPECS = {"wasmtime": "wasmtime>=50.0.1,<51", "pyperf": "pyperf>=2.9,<3"}
MIN_VERSION = (3, 11)  # the worker reads TOML specs with tomllib

_PROBE = """
import json, platform, sys, importlib.util
gil = getattr(sys, "_is_gil_enabled", None)
print(json.dumps({
    "version": platform.python_version(),
    "version_info": list(sys.version_info[:2]),
    "implementation": platform.python_implementation(),
    "gil": "enabled" if gil is None or gil() else "disabled",
    "executable": sys.executable,
    "missing": [m for m in %r if importlib.util.find_spec(m) is None],
}))
"""


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str
    gil: str  # enabled | disabled
    implementation: str = "CPython"
    default: bool = True  # the harness's own interpreter (results stay unlabelled)

    @property
    def free_threaded(self) -> bool:
        return self.gil == "disabled"

    @property
    def label(self) -> str:
        """`python3.13.0`, or `python3.13.0t` for a free-threaded build (no GIL)."""
        return f"python{self.version}{'t' if self.free_threaded else ''}"

    def metadata(self) -> dict[str, Any]:
        return {
            "runtime": "python",
            "runtime_version": self.version,
            "interpreter": self.label,
            "python_executable": self.executable,
            "lock": "none" if self.free_threaded else "GIL",
            "gil": self.gil,
        }


def package_root() -> str:
    """The directory that holds the `gvlbench` package: what a foreign interpreter's
    PYTHONPATH needs to import the worker without gvlbench being installed into it."""
    return str(Path(__file__).resolve().parent.parent)


def current() -> Interpreter:
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    gil = "enabled" if is_enabled is None or is_enabled() else "disabled"
    return Interpreter(
        sys.executable, platform.python_version(), gil, platform.python_implementation()
    )


def probe(path: str, timeout_s: float = 60.0) -> Interpreter:
    """Ask `path` what it is; InterpreterError (one line, with the fix) if it cannot serve."""
    try:
        proc = subprocess.run(
            [path, "-c", _PROBE % (NEEDED,)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=child_env(path),
        )
    except FileNotFoundError:
        raise InterpreterError(f"--python {path}: no such file") from None
    except PermissionError:
        raise InterpreterError(f"--python {path}: not executable") from None
    except OSError as exc:
        raise InterpreterError(f"--python {path}: cannot run: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise InterpreterError(f"--python {path}: did not answer in {timeout_s:.0f} s") from None
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InterpreterError(f"--python {path}: not a Python 3 interpreter ({last})") from None
    if tuple(info["version_info"]) < MIN_VERSION:
        raise InterpreterError(
            f"--python {path}: Python {info['version']} is older than the "
            f"{'.'.join(map(str, MIN_VERSION))} that gvlbench's worker needs"
        )
    if info["missing"]:
        specs = " ".join(f"'{PIP_SPECS[m]}'" for m in info["missing"])
        raise InterpreterError(
            f"--python {path} (Python {info['version']}) lacks {', '.join(info['missing'])}; "
            f"add with: {path} -m pip install {specs} (or use a venv made from it)"
        )
    return Interpreter(info["executable"], info["version"], info["gil"],
                       info["implementation"], default=False)  # fmt: skip


def child_env(python: str | None) -> dict[str, str] | None:
    """The environment of a child under `python`: ours, plus PYTHONPATH to find gvlbench.
    None (inherit unchanged) for the harness's own interpreter."""
    if python is None:
        return None
    env = dict(os.environ)
    extra = env.get("PYTHONPATH")
    env["PYTHONPATH"] = package_root() + (os.pathsep + extra if extra else "")
    return env
