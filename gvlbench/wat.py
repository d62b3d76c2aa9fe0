"""WAT to wasm: wabt's `wat2wasm` when it is on PATH, `wasmtime.wat2wasm` otherwise.

A component's text (`(component` at the top) always goes to `wasmtime.wat2wasm`: wabt reads
core modules only, and the compiler's name says so. Compiled modules are cached on disk by
the hash of (compiler, source), so every measuring child loads the same bytes and a rerun
compiles nothing. The chosen compiler is reported, because two compilers can emit
different (equally valid) binaries. Either compiler runs in a child process with a memory
limit and a timeout, never in the harness: a source nested deeply enough, or large enough, to
exhaust a compiler is one line about that source, not a harness the kernel kills.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gvlbench.errors import SpecError, WatError
from gvlbench.files import MAX_WASM_BYTES, MAX_WAT_BYTES, read_input, write_atomic
from gvlbench.lifecycle import die_with_parent

WASMTIME_COMPILER = "wasmtime.wat2wasm"
# the component model's text format: wabt's wat2wasm parses core modules only
COMPONENT_COMPILER = f"{WASMTIME_COMPILER} (a component: wabt reads core modules only)"
_LEADING = re.compile(rb"(?:\s+|;;[^\n]*(?:\n|$)|\(;.*?;\))*", re.DOTALL)
COMPILE_MEMORY_BYTES = 1 << 30  # the address space a compiler child may use
COMPILE_TIMEOUT_S = 120.0
# The fallback compiler's child: the source on stdin, the module on stdout, the compiler's
# own message on stderr (exit 1).
_WASMTIME_CHILD = """
import sys, wasmtime
try:
    sys.stdout.buffer.write(wasmtime.wat2wasm(sys.stdin.buffer.read().decode("utf-8", "replace")))
except wasmtime.WasmtimeError as exc:
    sys.stderr.write(str(exc))
    sys.exit(1)
except MemoryError:
    sys.stderr.write("error: out of memory: too large or too deeply nested to compile")
    sys.exit(1)
"""


@dataclass(frozen=True)
class Compiled:
    wasm_path: Path
    wasm_sha256: str
    compiler: str


def cache_dir() -> Path:
    base = os.environ.get("GVLBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "gvlbench"
    )
    return Path(base) / "wasm"


@functools.cache
def compiler() -> str:
    """Which compiler this process uses: 'wabt wat2wasm X.Y.Z' or 'wasmtime.wat2wasm'.

    GVLBENCH_WAT2WASM=none forces the fallback; GVLBENCH_WAT2WASM=/path picks a binary.
    """
    choice = os.environ.get("GVLBENCH_WAT2WASM", "")
    if choice == "none":
        return WASMTIME_COMPILER
    exe = choice or shutil.which("wat2wasm")
    if not exe:
        return WASMTIME_COMPILER
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return WASMTIME_COMPILER
    return f"wabt wat2wasm {out.stdout.strip() or 'unknown'} ({exe})"


BINARY = "none (a compiled .wasm)"


def binary(path: Path) -> Compiled:
    """A module that is already compiled: nothing to do but name and hash it."""
    data = read_input(path, "the module", SpecError, MAX_WASM_BYTES)
    return Compiled(path, hashlib.sha256(data).hexdigest(), BINARY)


def compile_wat(path: Path) -> Compiled:
    """Compile (or fetch from the cache) one WAT file; WatError carries the compiler's words."""
    source = read_input(path, "WAT", SpecError, MAX_WAT_BYTES)
    used = COMPONENT_COMPILER if is_component_text(source) else compiler()
    key = hashlib.sha256(used.encode() + b"\0" + source).hexdigest()
    out = cache_dir() / f"{key}.wasm"
    if not out.is_file():
        wasm = _compile(path, source, used)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, wasm)
    return Compiled(out, hashlib.sha256(out.read_bytes()).hexdigest(), used)


def compile_text(text: str, name: str) -> Compiled:
    """Compile WAT held in a string (a check's module) through the same compiler and cache."""
    with tempfile.TemporaryDirectory(prefix="gvlbench-wat-") as tmp:
        path = Path(tmp) / f"{name}.wat"
        path.write_text(text)
        return compile_wat(path)


def is_component_text(source: bytes) -> bool:
    """Whether WAT text is a component: its first form, after blanks and comments (block
    comments do not nest here: a component's header is never inside one in practice)."""
    blank = _LEADING.match(source)  # always matches (possibly nothing)
    return source[blank.end() if blank else 0 :].startswith(b"(component")


def layer(wasm: bytes) -> str | None:
    """What a Wasm binary is, from its header: "module" (a core module, version 1),
    "component" (the component model's layer 1), or None (not Wasm at all)."""
    if wasm[:4] != b"\0asm" or len(wasm) < 8:
        return None
    return "component" if wasm[6:8] == b"\x01\x00" else "module"


def _compile(path: Path, source: bytes, used: str) -> bytes:
    if used.startswith(WASMTIME_COMPILER):
        proc = _run_compiler([sys.executable, "-c", _WASMTIME_CHILD], path, source)
        if proc.returncode < 0:
            raise WatError(f"{path}: {_ended(proc.returncode)}")
        if proc.returncode != 0:
            said = proc.stderr.decode("utf-8", "replace")
            where = re.search(r"--> <anon>:(\d+:\d+)", said)
            at = f":{where.group(1)}" if where else ""
            raise WatError(f"{path}{at}: {_first_line(said) or _ended(proc.returncode)}")
        return proc.stdout
    exe = used.rsplit("(", 1)[1].rstrip(")")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.wasm"
        proc = _run_compiler([exe, str(path), "-o", str(target)], path, b"")
        if proc.returncode < 0:
            raise WatError(f"{path}: {_ended(proc.returncode)}")
        if proc.returncode != 0:  # wabt echoes the source: it may not be UTF-8
            said = _first_line(proc.stderr.decode("utf-8", "replace"))
            raise WatError(said or f"{path}: {_ended(proc.returncode)}")
        return target.read_bytes()


def _run_compiler(argv: list[str], path: Path, source: bytes) -> subprocess.CompletedProcess:
    """A compiler in a child with a memory limit and a timeout; WatError when it hits one."""
    try:
        return subprocess.run(argv, input=source, capture_output=True, timeout=COMPILE_TIMEOUT_S,
                              preexec_fn=_compiler_limits)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise WatError(f"{path}: the WAT compiler ran past {COMPILE_TIMEOUT_S:.0f} s (too large "
                       "or too deeply nested to compile)") from None  # fmt: skip


def _compiler_limits() -> None:
    """In the compiler's child: at most COMPILE_MEMORY_BYTES, no core file, and death with
    the harness."""
    resource.setrlimit(resource.RLIMIT_AS, (COMPILE_MEMORY_BYTES, COMPILE_MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    die_with_parent()


def _ended(returncode: int) -> str:
    """How a compiler that said nothing ended: a signal or an exit code, and the limits a
    death by signal most often means."""
    if returncode < 0:
        return (f"the WAT compiler died of {_signal_name(-returncode)}: out of its "
                f"{COMPILE_MEMORY_BYTES >> 20} MiB or its stack (too large or too deeply "
                "nested to compile)")  # fmt: skip
    return f"the WAT compiler exited {returncode}"


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _first_line(message: str) -> str:
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower():
            return ln
    return lines[0] if lines else ""
