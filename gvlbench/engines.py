"""Which loaded shared objects carry a WebAssembly engine, which one, and which version.

Why: a user's statement can run Wasm through an extension that embeds its own engine
(numcodecs-wasm and pyyus link wasmtime into a PyO3 module, Extism ships wasmtime inside
libextism_sys.so, pywasm3 compiles wasm3 into its module), not only through wasmtime-py. Those
engines are loaded at import time, so the objects mapped while the statement ran are the
candidates, and the binary itself is the only thing that says which engine and version it has.

How, per file (read-only mmap, standard library only):

* Parse the ELF section table and scan only the read-only data sections (.rodata, Go's
  .gopclntab), at most `MAX_SCAN_BYTES`, with literal-prefixed compiled regexes and
  mmap.find anchors (a pattern that starts with a class or \\d is 10-25x slower here).
  Rust panic locations keep cargo's registry path, so a crate directory such as
  ``wasmtime-37.0.3/src/`` names the engine and its exact version. A workspace build
  (wasmtime-py's libwasmtime) has ``crates/wasmtime/src/`` instead, and its version sits in
  wasmtime's "This is a bug in Wasmtime" trap message.
* Read the *defined* dynamic symbols: ``wasmtime_func_call`` (wasmtime C API), ``m3_Call``
  (wasm3), ``extism_plugin_call`` (Extism's host runtime) and so on. Imported (undefined)
  symbols are ignored, so a module that merely links against libwasmtime is not an engine.
* Older wasmtime builds without that message keep the version just before "Module was
  compiled with incompatible Wasmtime version"; pywasm3 stores it next to "M3_VERSION".
* Without section headers, fall back to the non-writable PT_LOAD segments, same bound.

Results are cached per (path, device, inode, size, mtime), so asking again after every
statement costs a stat per object. Nothing here calls into the libraries it inspects.
"""

from __future__ import annotations

import mmap
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from gvlbench.elf import MAGIC, Elf

MAX_SCAN_BYTES = 64 * 1024 * 1024
"""Bytes of read-only data scanned per file; engine .rodata seen here is 1 to 6 MiB."""

_SCANNED_SECTIONS = (b".rodata", b".gopclntab")


class EngineHit(NamedTuple):
    """One Wasm engine found in one file."""

    path: str
    engine: str
    version: str | None
    evidence: str


# Rust crate directories (cargo registry or vendored) whose presence means the engine itself is
# compiled in. Only the crate that *is* the engine: wasmparser or wat alone run no Wasm.
_CRATE_ENGINES = {
    b"wasmtime": "wasmtime",
    b"wasmtime-runtime": "wasmtime",  # older releases kept the VM in its own crate
    b"wasmer": "wasmer",
    b"wasmer-vm": "wasmer",
    b"wasmi": "wasmi",
    b"wasm3": "wasm3",  # the Rust binding crate (bundles the C engine)
    b"wasmedge-sys": "wasmedge",
}
# Go module paths, as kept in .gopclntab.
_GO_ENGINES = {
    b"github.com/tetratelabs/wazero": "wazero",
    b"github.com/bytecodealliance/wasmtime-go": "wasmtime",
    b"github.com/wasmerio/wasmer-go": "wasmer",
}

_VERSION = rb"\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?"
# Every pattern starts with a literal so that sre's prefix search (or mmap.find) skips the
# bulk of .rodata; a leading character class or \\d made a 5 MiB scan 10 to 25 times slower.
_CRATE_RE = re.compile(
    rb"wasm(time|time-runtime|er|er-vm|i|3|edge-sys)-(" + _VERSION + rb")[/\\]src[/\\]"
)
_GO_VERSION_RE = re.compile(rb"(?:/v\d+)?@v(" + _VERSION + rb")")
_BARE_VERSION_RE = re.compile(_VERSION)
_MAX_ANCHOR_HITS = 1000
"""Occurrences of one anchor looked at per region (Go keeps one path per source file)."""

# Version strings found by a literal anchor and a look back of at most 40 bytes:
# (anchor, engine, label, pattern that must end the look-back).
_ANCHORED_VERSIONS = (
    # wasmtime >= ~40: the trap message for internal bugs carries CARGO_PKG_VERSION.
    (
        b"\n\nThis is a bug in Wasmtime",
        "wasmtime",
        "bug-message version",
        re.compile(rb"\nversion: (" + _VERSION + rb")\Z"),
    ),
    # Older wasmtime (seen in 20.0.0): engine/serialization.rs keeps CARGO_PKG_VERSION, and
    # the linker stores it right before the version-mismatch message.
    (
        b"Module was compiled with incompatible Wasmtime version",
        "wasmtime",
        "serialization version",
        re.compile(rb"(?<![0-9.])(" + _VERSION + rb")\Z"),
    ),
)
# Literal markers: (bytes, engine). Any one names the engine when no versioned path does.
_MARKERS = (
    (b"crates/wasmtime/src/", "wasmtime"),
    (b"WASMTIME_BACKTRACE_DETAILS", "wasmtime"),
)

# Defined dynamic symbols: (name, engine, what it tells).
_SYMBOLS = {
    b"wasmtime_func_call": ("wasmtime", "wasmtime C API"),
    b"wasmtime_store_new": ("wasmtime", "wasmtime C API"),
    b"wasmer_version": ("wasmer", "wasmer C API"),
    b"m3_Call": ("wasm3", "wasm3 API"),
    b"m3_NewEnvironment": ("wasm3", "wasm3 API"),
    b"wasm_runtime_init": ("wamr", "WAMR API"),
    b"WasmEdge_VersionGet": ("wasmedge", "WasmEdge C API"),
    b"wasm_engine_new": ("wasm-c-api", "standard wasm-c-api"),
    b"extism_plugin_call": (None, "Extism host runtime"),
}

# Markers that carry a version, best first (used when no versioned crate path was found).
_VERSION_MARKERS = ("bug-message version ", "serialization version ", "M3_VERSION constant ")


class _Scan(NamedTuple):
    """What one pass over a file collected, before it is turned into hits."""

    crates: dict[str, Counter[str]]
    markers: dict[str, list[str]]
    symbols: dict[str | None, list[str]]
    bytes_scanned: int
    truncated: bool


_cache: dict[tuple[str, int, int, int, int], list[EngineHit]] = {}
_cache_lock = threading.Lock()


def scan_file(path: str) -> list[EngineHit]:
    """Engines compiled into `path` (cached per path and file identity); [] if none.

    Raises OSError when the file cannot be read, ValueError when it is not ELF.
    """
    st = os.stat(path)
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _cache_lock:
        if key in _cache:
            return list(_cache[key])
    hits = _hits(path, _scan(path))
    with _cache_lock:
        _cache[key] = hits
    return list(hits)


def clear_cache() -> None:
    """Forget cached scans (tests; a long-lived process that replaces files in place)."""
    with _cache_lock:
        _cache.clear()


def mapped_code_objects(maps_path: str = "/proc/self/maps") -> list[str]:
    """Files mapped executable in this process: the interpreter and every loaded shared object.

    Only executable mappings count, so data files mapped by numpy or a locale archive are
    left out. A file replaced since it was loaded shows up as "... (deleted)" and is skipped.
    """
    seen: dict[str, None] = {}
    with open(maps_path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) < 6 or "x" not in fields[1]:
                continue
            name = fields[5].rstrip("\n")
            if name.startswith("/") and not name.endswith(" (deleted)"):
                seen.setdefault(name, None)
    return list(seen)


def anonymous_exec_mappings(maps_path: str = "/proc/self/maps") -> int:
    """How many executable mappings have no file behind them.

    Why: a JIT engine (wasmtime with Cranelift, as in every package seen here) maps each
    compiled module's code anonymously, so this count grows when a statement compiles Wasm.
    It says nothing about which library did it: compare it before and after a statement.
    """
    count = 0
    with open(maps_path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            fields = line.split(None, 5)
            if len(fields) >= 2 and "x" in fields[1] and len(fields) < 6:
                count += 1
    return count


def detect(paths: Iterable[str] | None = None) -> list[EngineHit]:
    """Engines in `paths`, or in every code object this process has mapped.

    Files that vanished or are not ELF are skipped: a detector run after a user's statement
    must not fail on a mapping it cannot read.
    """
    hits: list[EngineHit] = []
    for path in mapped_code_objects() if paths is None else paths:
        try:
            hits.extend(scan_file(path))
        except (OSError, ValueError):
            continue
    return hits


# --- scanning -------------------------------------------------------------------------------


def _scan(path: str) -> _Scan:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 64:
            raise ValueError(f"{path}: too small for ELF")
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            if mm[:4] != MAGIC:
                raise ValueError(f"{path}: not an ELF file")
            elf = Elf(mm)
            regions, truncated = _bounded(elf.data_regions(_SCANNED_SECTIONS), MAX_SCAN_BYTES)
            crates: dict[str, Counter[str]] = {}
            markers: dict[str, list[str]] = {}
            for start, end in regions:
                _scan_region(mm, start, end, crates, markers)
            symbols = _engine_symbols(elf.defined_dynamic_symbols(_SYMBOLS))
            scanned = sum(e - s for s, e in regions)
    return _Scan(crates, markers, symbols, scanned, truncated)


def _bounded(regions: list[tuple[int, int]], limit: int) -> tuple[list[tuple[int, int]], bool]:
    """Clip the regions so their total stays under `limit` bytes."""
    out: list[tuple[int, int]] = []
    left = limit
    for start, end in regions:
        if left <= 0:
            return out, True
        take = min(end - start, left)
        out.append((start, start + take))
        left -= take
        if take < end - start:
            return out, True
    return out, False


def _scan_region(
    mm: mmap.mmap,
    start: int,
    end: int,
    crates: dict[str, Counter[str]],
    markers: dict[str, list[str]],
) -> None:
    """Collect versioned crate/module paths and literal markers between start and end."""
    for m in _CRATE_RE.finditer(mm, start, end):
        if m.start() > start and mm[m.start() - 1] in b"/\\":
            crate = b"wasm" + m.group(1)
            token = f"{crate.decode()}-{m.group(2).decode()}"
            crates.setdefault(_CRATE_ENGINES[crate], Counter())[token] += 1
    for module, engine in _GO_ENGINES.items():
        for pos in _anchor_positions(mm, module, start, end):
            m = _GO_VERSION_RE.match(mm, pos + len(module), end)
            if m:
                token = f"{module.decode()}@v{m.group(1).decode()}"
                crates.setdefault(engine, Counter())[token] += 1
    for anchor, engine, label, tail in _ANCHORED_VERSIONS:
        for pos in _anchor_positions(mm, anchor, start, end):
            m = tail.search(mm[max(start, pos - 40) : pos])
            if m:
                markers.setdefault(engine, []).append(f"{label} {m.group(1).decode()}")
    for literal, engine in _MARKERS:
        if mm.find(literal, start, end) >= 0:
            markers.setdefault(engine, []).append(literal.decode())
    version = _m3_version(mm, start, end)
    if version is not None:
        markers.setdefault("wasm3", []).append(f"M3_VERSION constant {version}")


def _anchor_positions(mm: mmap.mmap, anchor: bytes, start: int, end: int) -> Iterator[int]:
    """Offsets of `anchor` in [start, end), at most _MAX_ANCHOR_HITS of them."""
    pos = mm.find(anchor, start, end)
    for _ in range(_MAX_ANCHOR_HITS):
        if pos < 0:
            return
        yield pos
        pos = mm.find(anchor, pos + 1, end)


def _m3_version(mm: mmap.mmap, start: int, end: int) -> str | None:
    """pywasm3's module constant: its value string is stored next to the name "M3_VERSION"."""
    at = mm.find(b"\0M3_VERSION\0", start, end)
    if at < 0:
        return None
    before = mm[max(start, at - 24) : at].rsplit(b"\0", 1)[-1]
    after = mm[at + 12 : min(end, at + 36)].split(b"\0", 1)[0]
    for candidate in (before, after):
        if _BARE_VERSION_RE.fullmatch(candidate):
            return candidate.decode()
    return None


def _engine_symbols(names: Iterable[bytes]) -> dict[str | None, list[str]]:
    found: dict[str | None, list[str]] = {}
    for name in names:
        if name in _SYMBOLS:
            engine, _what = _SYMBOLS[name]
            found.setdefault(engine, []).append(name.decode())
    return found


# --- turning a scan into hits ---------------------------------------------------------------


def _hits(path: str, scan: _Scan) -> list[EngineHit]:
    engines = set(scan.crates) | set(scan.markers) | {e for e in scan.symbols if e}
    # wasm-c-api alone is generic; a named engine that exports it subsumes it.
    if "wasm-c-api" in engines and len(engines) > 1:
        engines.discard("wasm-c-api")
    extras = _extras(scan)
    return [_hit(path, engine, scan, extras) for engine in sorted(engines)]


def _hit(path: str, engine: str, scan: _Scan, extras: list[str]) -> EngineHit:
    """One engine's hit: a versioned crate path beats a version-bearing marker beats none."""
    parts: list[str] = []
    version: str | None = None
    counts = scan.crates.get(engine)
    if counts:
        version = _version_of(counts.most_common(1)[0][0])
        parts.append("crate paths " + ", ".join(f"{k}/ x{n}" for k, n in counts.most_common(3)))
    markers = scan.markers.get(engine, [])
    if version is None:
        version = _marker_version(markers)
    parts.extend(markers)
    syms = scan.symbols.get(engine, []) + scan.symbols.get("wasm-c-api", [])
    if syms:
        parts.append("exports " + ",".join(sorted(set(syms))))
    parts.extend(extras)
    return EngineHit(path, engine, version, "; ".join(_dedupe(parts)))


def _marker_version(markers: list[str]) -> str | None:
    for prefix in _VERSION_MARKERS:
        for marker in markers:
            if marker.startswith(prefix):
                return marker.removeprefix(prefix)
    return None


def _extras(scan: _Scan) -> list[str]:
    """Evidence that belongs to every hit: embedders and scan limits."""
    out = [f"exports {s} ({_SYMBOLS[s.encode()][1]})" for s in scan.symbols.get(None, [])]
    if scan.truncated:
        out.append(f"scan truncated at {scan.bytes_scanned} bytes")
    return out


def _version_of(token: str) -> str:
    return token.rsplit("@v", 1)[1] if "@v" in token else token.rsplit("-", 1)[1]


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
