"""Which runtime runs the measuring children, and what it is: a Python or Ruby.

By default the children run under the harness's own interpreter. `--python PATH` names
another one (a pyenv 3.13, a free-threaded 3.13t): it is probed once in the harness, in a
child of its own, for its version, its GIL status and the two packages a worker needs
(wasmtime and pyperf). gvlbench itself is never installed into it: the children find the
package through PYTHONPATH. Nothing is installed silently; what is missing is named in one
line with the command that would add it.

`--runtime NAME` runs another language's worker, found by the binding that speaks it
(bindings/ruby_ffi.py: Ruby over ruby-ffi, on the libwasmtime the wasmtime wheel ships). Every
runtime answers `language`, `label`, `metadata()`, `argv()`, `env()` and `describe()`, so a
plan treats them as one more axis, and asks the runtime's binding what it can do.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from gvlbench import bindings
from gvlbench.bindings import Binding, Feature, Form
from gvlbench.errors import InterpreterError, OptionError
from gvlbench.modes import Mode, for_interpreter
from gvlbench.protocol import PATCH_NAMES

NEEDED = ("wasmtime", "pyperf")
# wasmtime's is the binding's tested range (internals.pip_spec), asked when needed: importing
# the binding loads libwasmtime, which a command without --python never needs
PIP_SPECS = {"pyperf": "pyperf>=2.9,<3"}
MIN_VERSION = (3, 11)  # the worker reads TOML specs with tomllib

_PROBE = """
import json, platform, sys, importlib.util, importlib.metadata
gil = getattr(sys, "_is_gil_enabled", None)
def release(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"  # importable, but installed without its metadata
print(json.dumps({
    "version": platform.python_version(),
    "version_info": list(sys.version_info[:2]),
    "implementation": platform.python_implementation(),
    "gil": "enabled" if gil is None or gil() else "disabled",
    "executable": sys.executable,
    "missing": [m for m in %r if importlib.util.find_spec(m) is None],
    "wasmtime": release("wasmtime") if importlib.util.find_spec("wasmtime") else None,
}))
"""


@dataclass(frozen=True)
class Interpreter:
    language: ClassVar[str] = "python"
    executable: str
    version: str
    gil: str  # enabled | disabled
    implementation: str = "CPython"
    default: bool = True  # the harness's own interpreter (results stay unlabelled)
    wasmtime: str | None = None  # its wasmtime-py release (None: not asked, or not installed)

    @property
    def free_threaded(self) -> bool:
        return self.gil == "disabled"

    @property
    def label(self) -> str:
        """`python3.13.0`, or `python3.13.0t` for a free-threaded build (no GIL); with
        `+wasmtime46.0.1` when its wasmtime-py is not the harness's own (two venvs of one
        Python that pin different releases are two runtimes)."""
        label = f"python{self.version}{'t' if self.free_threaded else ''}"
        if self.wasmtime and self.wasmtime != harness_wasmtime():
            label += f"+wasmtime{self.wasmtime}"
        return label

    @property
    def name_suffix(self) -> str:
        """`/python=3.13.0`: how benchmark names tell interpreters apart."""
        return f"/python={self.label.removeprefix('python')}"

    def argv(self) -> list[str]:
        return [self.executable, "-m", "gvlbench.worker"]

    def env(self) -> dict[str, str] | None:
        return child_env(None if self.default else self.executable)

    def describe(self) -> str:
        """One line for the runtime announcement: what the label stands for."""
        lock = ("free-threaded: no GIL, so its one mode is free-threaded" if self.free_threaded
                else f"GIL {self.gil}")  # fmt: skip
        return f"Python {self.version}, {lock}"

    def metadata(self) -> dict[str, Any]:
        return {
            "runtime": self.language,
            "runtime_version": self.version,
            "interpreter": self.label,
            "python_executable": self.executable,
            "lock": "none" if self.free_threaded else "GIL",
            "gil": self.gil,
            **({"wasmtime_version": self.wasmtime} if self.wasmtime else {}),
        }


def harness_wasmtime() -> str | None:
    """The harness's own wasmtime-py release, from its metadata (no library is loaded)."""
    from importlib.metadata import PackageNotFoundError, version  # 60 ms: only when asked

    try:
        return version("wasmtime")
    except PackageNotFoundError:
        return None


def free_threaded(runtime: Runtime | None) -> bool:
    """Whether the children of `runtime` (None: the harness's own Python) have no GIL."""
    return runtime.free_threaded if runtime is not None else current().free_threaded


def modes_under(modes: tuple[Mode, ...], runtime: Runtime | None) -> tuple[Mode, ...]:
    """The modes measured under `runtime` (None: the harness's own Python): free-threaded
    alone on a free-threaded build, the requested GIL modes elsewhere. OptionError when that
    leaves nothing, as `--mode held` does on a build with no GIL to hold."""
    chosen = for_interpreter(modes, free_threaded(runtime))
    if not chosen:
        label = runtime.label if runtime is not None else current().label
        raise OptionError(
            f"--mode {'+'.join(map(str, modes))} measures nothing on {label}: a free-threaded "
            f"build has no GIL to hold (its one mode is free-threaded; drop --mode)"
        )
    return chosen


def package_root() -> str:
    """The directory that holds the `gvlbench` package: what a foreign interpreter's
    PYTHONPATH needs to import the worker without gvlbench being installed into it."""
    return str(Path(__file__).resolve().parents[2])


def current() -> Interpreter:
    is_enabled = getattr(sys, "_is_gil_enabled", None)
    gil = "enabled" if is_enabled is None or is_enabled() else "disabled"
    return Interpreter(
        sys.executable,
        platform.python_version(),
        gil,
        platform.python_implementation(),
        wasmtime=harness_wasmtime(),
    )


def _said(proc: subprocess.CompletedProcess[str]) -> str:
    """What a program that is not Python said to the probe, short and on one line (/bin/ls
    echoes the whole probe script back in its error)."""
    words = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
    first = words[0].strip() if words else "no output"
    first = first if len(first) <= 60 else first[:57] + "..."
    return f"exit code {proc.returncode}: {first}"


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
        raise InterpreterError(
            f"--python {path}: not a Python 3 interpreter ({_said(proc)})"
        ) from None
    if tuple(info["version_info"]) < MIN_VERSION:
        raise InterpreterError(
            f"--python {path}: Python {info['version']} is older than the "
            f"{'.'.join(map(str, MIN_VERSION))} that gvlbench's worker needs"
        )
    lacks = _lacking(path, info)
    if lacks:
        raise InterpreterError(lacks)
    return Interpreter(info["executable"], info["version"], info["gil"],
                       info["implementation"], default=False,
                       wasmtime=info.get("wasmtime"))  # fmt: skip


def _lacking(path: str, info: dict[str, Any]) -> str | None:
    """Everything the probed interpreter lacks for the worker, in one line with the pip
    command that adds it all: the missing packages, and a wasmtime outside the tested range."""
    from gvlbench.binding import internals  # the tested range; loads the harness's wasmtime

    specs = {"wasmtime": internals.pip_spec(), **PIP_SPECS}
    pieces = [(name, specs[name]) for name in NEEDED if name in info["missing"]]
    found = info.get("wasmtime")
    untested = found is not None and not internals.is_tested(found)
    if untested:
        pieces.insert(0, (f"wasmtime {internals.tested_range()} (it has {found})",
                          specs["wasmtime"]))  # fmt: skip
    if not pieces:
        return None
    lacks = ", ".join(what for what, _ in pieces)
    add = " ".join(f"'{spec}'" for _, spec in pieces)
    also = f"; or set {internals.UNTESTED_ENV}=1 to try wasmtime {found}" if untested else ""
    return (f"--python {path} (Python {info['version']}) lacks {lacks}; add with: {path} -m "
            f"pip install {add} (or use a venv made from it{also})")  # fmt: skip


def child_env(python: str | None) -> dict[str, str] | None:
    """The environment of a child under `python`: ours, plus PYTHONPATH to find gvlbench.
    None (inherit unchanged) for the harness's own interpreter."""
    if python is None:
        return None
    env = dict(os.environ)
    extra = env.get("PYTHONPATH")
    env["PYTHONPATH"] = package_root() + (os.pathsep + extra if extra else "")
    return env


Runtime = Any  # an Interpreter, or a foreign runtime a binding provides (bindings/base.py)
# What a runtime's metadata() says of itself; in a file's common metadata they describe the
# runtimes a command actually ran.
_RUNTIME_KEYS = ("runtime", "runtime_version", "interpreter", "lock", "gil", "wasmtime_version")


def language_of(runtime: Runtime | None) -> str:
    """The language whose worker runs `runtime`'s children (None: the harness's Python)."""
    return runtime.language if runtime is not None else Interpreter.language


def binding_of(runtime: Runtime | None, form: Form = Form.MODULE) -> Binding:
    """The binding `runtime`'s children call a target of `form` through; OptionError (one
    line) when none of that runtime's bindings can."""
    label = runtime.label if runtime is not None else ""
    return bindings.for_form(language_of(runtime), form, label)


def call_path_of(runtime: Runtime | None, requested: str, form: Form = Form.MODULE) -> str:
    """The call path a runtime's children use: the requested one, where its binding has it."""
    return binding_of(runtime, form).call_path(requested)


def check_call_path(path: str, runtimes: tuple[Runtime, ...], form: Form = Form.MODULE) -> None:
    """A call path some runtime's binding does not have is one line, rather than rows
    labelled with a path they did not take (the harness's own Python where none is given)."""
    for rt in runtimes or (None,):
        binding = binding_of(rt, form)
        if path != "stock" and path not in binding.capabilities.call_paths:
            paths = ", ".join(binding.capabilities.call_paths)
            where, fix = (rt.label, " or that runtime") if rt else (f"a {form} target", "")
            raise OptionError(
                f"--call-path {path} is not a path of the {binding.name} binding ({where} "
                f"has {paths}: {binding.why_not(path)}): drop --call-path{fix}"
            )


def check_patches(
    patches: tuple[str, ...], runtimes: tuple[Runtime, ...], form: Form = Form.MODULE
) -> None:
    """Binding patches change a binding's code: an unknown name, or one on a runtime whose
    binding takes none, is one line."""
    unknown = [p for p in patches if p not in PATCH_NAMES]
    if unknown:
        raise OptionError(f"unknown patch {unknown[0]!r} (known: {', '.join(PATCH_NAMES)})")
    if patches:
        for rt in runtimes or (None,):
            binding_of(rt, form).require(Feature.PATCHES, "--patch")
    guards = [p for p in dict.fromkeys(patches) if p.startswith("store-guard")]
    if len(guards) > 1:
        raise OptionError(f"one Store guard at a time: {' and '.join(guards)} both guard every "
                          "Store; pick one")  # fmt: skip


def runtimes_metadata(runtimes: tuple[Runtime, ...]) -> dict[str, Any]:
    """The common (file-level) metadata's runtime keys for the runtimes a command ran: one
    runtime's own, or each key's values joined with "+" ("python+ruby", "GIL+GVL"). Empty
    for the harness's own Python, whose keys the caller already has."""
    if not runtimes:
        return {}
    mds = [rt.metadata() for rt in runtimes]
    if len(mds) == 1:
        return {k: mds[0][k] for k in (*_RUNTIME_KEYS, "call_path") if k in mds[0]}
    return {k: "+".join(dict.fromkeys(str(md[k]) for md in mds if k in md))
            for k in _RUNTIME_KEYS if any(k in md for md in mds)}  # fmt: skip


def libwasmtime_path() -> str:
    """The shared library inside the installed wasmtime wheel: the one both workers load."""
    from gvlbench.binding import internals

    return internals.LIBRARY_PATH


def runtime_names() -> tuple[str, ...]:
    """What `--runtime` accepts: python, then each language a binding's worker speaks."""
    return bindings.languages()


def resolve_runtimes(names: tuple[str, ...], pythons: tuple[str, ...]) -> tuple[Runtime, ...]:
    """`--runtime` names and `--python` paths as the runtimes a plan runs under. Empty: the
    harness's own Python, unlabelled (the default). Labelled as soon as there is a choice."""
    runtimes: list[Runtime] = []
    for name in dict.fromkeys(names):
        if name != Interpreter.language:  # a foreign worker: its binding finds its runtime
            runtimes.append(bindings.for_language(name).find_runtime())
        elif len(set(names)) > 1 or pythons:
            runtimes.append(replace(current(), default=False))
    runtimes += [probe(path) for path in pythons]
    return tuple(runtimes)
