"""WAT to wasm: wabt's `wat2wasm` when it is on PATH, `wasmtime.wat2wasm` otherwise.

A component's text (`(component` at the top) always goes to `wasmtime.wat2wasm`: wabt reads
core modules only, and the compiler's name says so. Compiled modules are cached on disk by
the hash of (compiler, source), so every measuring child loads the same bytes and a rerun
compiles nothing. The chosen compiler is reported, because two compilers can emit
different (equally valid) binaries.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gvlbench.errors import SpecError, WatError
from gvlbench.files import write_atomic

WASMTIME_COMPILER = "wasmtime.wat2wasm"
# the component model's text format: wabt's wat2wasm parses core modules only
COMPONENT_COMPILER = f"{WASMTIME_COMPILER} (a component: wabt reads core modules only)"
_LEADING = re.compile(rb"(?:\s+|;;[^\n]*(?:\n|$)|\(;.*?;\))*", re.DOTALL)


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
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the module: {exc.strerror or exc}") from None
    return Compiled(path, hashlib.sha256(data).hexdigest(), BINARY)


def compile_wat(path: Path) -> Compiled:
    """Compile (or fetch from the cache) one WAT file; WatError carries the compiler's words."""
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read WAT: {exc.strerror or exc}") from None
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
        import wasmtime

        try:
            return wasmtime.wat2wasm(source.decode("utf-8", "replace"))
        except wasmtime.WasmtimeError as exc:
            where = re.search(r"--> <anon>:(\d+:\d+)", str(exc))
            at = f":{where.group(1)}" if where else ""
            raise WatError(f"{path}{at}: {_first_line(str(exc))}") from None
    exe = used.rsplit("(", 1)[1].rstrip(")")
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.wasm"
        proc = subprocess.run(  # wabt echoes the source: it may not be UTF-8
            [exe, str(path), "-o", str(target)], capture_output=True, timeout=60
        )
        if proc.returncode != 0:
            said = _first_line(proc.stderr.decode("utf-8", "replace"))
            raise WatError(said or f"{path}: wat2wasm exited {proc.returncode}")
        return target.read_bytes()


def _first_line(message: str) -> str:
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower():
            return ln
    return lines[0] if lines else ""
