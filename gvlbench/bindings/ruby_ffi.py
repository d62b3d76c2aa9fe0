"""gvlbench's Ruby worker: wasmtime's C API through ruby-ffi, with Ruby's GVL as the lock.

The worker is Ruby (gvlbench/ruby/worker.rb), so this binding has no Python driver: the
harness sends it the same tasks over the same protocol. It calls the libwasmtime that the
wasmtime wheel ships, held (ruby-ffi's default: the GVL is kept) or released (`blocking:
true`, as wasmtime-rb's `to_func(gvl: false)` does). What it lacks is what the Ruby worker
has not been taught; each reason says so.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from gvlbench.bindings.base import Binding, Capabilities, Feature, Form
from gvlbench.errors import InterpreterError
from gvlbench.modes import Mode

CALL_PATH = "ruby-ffi"  # the Ruby worker's one call path: ruby-ffi's attached function
INSTALL = "apt-get install -y ruby ruby-ffi"
_PROBE = (
    "require 'json'; ffi = begin; require 'ffi'; FFI::VERSION; rescue LoadError; nil; end; "
    "puts JSON.generate(version: RUBY_VERSION, ffi: ffi, executable: RbConfig.ruby)"
)

_PYTHON_ONLY = "a Python-side measurement the Ruby worker does not make"

CAPABILITIES = Capabilities(
    forms=frozenset({Form.MODULE}),
    modes={
        Mode.HELD: "wasmtime_func_call attached by ruby-ffi as it is: the GVL is kept",
        Mode.RELEASED: "attached with `blocking: true`: ruby-ffi releases the GVL, as "
        "wasmtime-rb's to_func(gvl: false) does",
    },
    features=frozenset(
        {
            Feature.BENCH,
            Feature.PROGRESS,
            Feature.RACE,
            Feature.GUARD,
            Feature.NATIVE_GUARD,
            Feature.GUARD_COST,
            Feature.VERIFY,
        }
    ),
    call_paths=(CALL_PATH,),
    lacks={
        Feature.TIMELINE: "the Ruby worker records no timeline: it would need Ruby's GVL "
        "instrumentation API (rb_internal_thread_add_event_hook, Ruby 3.2 or newer), and it "
        "is built and tested on Debian's Ruby 3.1, which has none",
        "lean": "a Python call path; the Ruby worker has one, ruby-ffi's attached function",
        "raw": "a Python call path; the Ruby worker has one, ruby-ffi's attached function",
        "floor": "a Python call path; the Ruby worker has one, ruby-ffi's attached function",
        Form.CODE: "--stmt is Python code: drop --runtime ruby (Ruby code targets may come later)",
        Form.COMPONENT: "the Ruby worker calls core modules only",
        Form.PLUGIN: "the Ruby worker calls core modules only",
        Mode.FREE_THREADED: "Ruby always has its GVL",
        Feature.SPEEDUP: "the Ruby worker times one benchmark per cell instead",
        Feature.PHASES: _PYTHON_ONLY,
        Feature.POOL: "--mode processes pools Python workers only; drop --runtime ruby",
        Feature.CALLS: _PYTHON_ONLY,
        Feature.SWEEP: _PYTHON_ONLY,
        Feature.PROFILE: _PYTHON_ONLY,
        Feature.ENTRY_RACE: "--entry-race races wasmtime-py's bindings: drop --runtime ruby",
        Feature.PATCHES: "--patch changes wasmtime-py, the Python binding; drop --runtime ruby",
        Feature.BINDING_CHECKS: "a check of wasmtime-py's own code, not run for --runtime ruby",
        Feature.WASI: "WASI: the Ruby worker does not set up the C API's wasi_config_* yet",
        Feature.UNKNOWN_IMPORTS: "unknown_imports: the Ruby worker links every import itself",
        Feature.LIMITS: "[limits]: the Ruby worker sets no fuel, epoch or memory limit yet",
        Feature.HOST_RAISES: "gc_stress and expect.raises: Ruby host callbacks do not raise "
        "Python's exceptions",
    },
)


class RubyFfi(Binding):
    name = "ruby-ffi"
    summary = "wasmtime's C API from Ruby through ruby-ffi (gvlbench's Ruby worker)"
    runtime = "ruby"
    lock = "GVL"
    capabilities = CAPABILITIES
    accessor_mode = Mode.HELD

    def find_runtime(self) -> RubyRuntime:
        return probe()

    def compiled_modules_needed(self) -> bool:
        return True


@dataclass(frozen=True)
class RubyRuntime:
    """Ruby (with ruby-ffi) running gvlbench's Ruby worker: the lock is Ruby's GVL."""

    language: ClassVar[str] = "ruby"
    executable: str
    version: str
    ffi_version: str
    free_threaded = False
    default = False
    gil = "GVL"

    @property
    def label(self) -> str:
        return f"ruby{self.version}"

    @property
    def name_suffix(self) -> str:
        return f"/ruby={self.version}"

    def describe(self) -> str:
        return f"Ruby {self.version}, ruby-ffi {self.ffi_version}, GVL"

    def argv(self) -> list[str]:
        return [self.executable, str(Path(__file__).resolve().parents[1] / "ruby" / "worker.rb")]

    def env(self) -> dict[str, str]:
        from gvlbench.binding import internals

        return {**os.environ, "GVLBENCH_LIBWASMTIME": internals.LIBRARY_PATH}

    def metadata(self) -> dict[str, Any]:
        return {
            "runtime": self.language,
            "runtime_version": self.version,
            "interpreter": self.label,
            "ruby_executable": self.executable,
            "ruby_ffi_version": self.ffi_version,
            "lock": "GVL",
            "gil": "GVL",
            "call_path": CALL_PATH,
        }


def probe(path: str = "ruby", timeout_s: float = 60.0) -> RubyRuntime:
    """Ask `path` for its version and ruby-ffi; InterpreterError (one line, with the command
    that installs what is missing) if it cannot run the Ruby worker."""
    try:
        proc = subprocess.run([path, "-e", _PROBE], capture_output=True, text=True,
                              timeout=timeout_s)  # fmt: skip
    except FileNotFoundError:
        raise InterpreterError(
            f"--runtime ruby: no `{path}` on PATH; install with: {INSTALL}"
        ) from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InterpreterError(f"--runtime ruby: cannot run {path}: {exc}") from None
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise InterpreterError(f"--runtime ruby: {path} did not answer ({last})") from None
    if not info.get("ffi"):
        raise InterpreterError(
            f"--runtime ruby: Ruby {info['version']} lacks ruby-ffi; install with: "
            f"apt-get install -y ruby-ffi (or: gem install ffi)"
        )
    return RubyRuntime(info["executable"], info["version"], info["ffi"])


BINDING = RubyFfi()
