"""The native Store guard's shared library: where it is, whether it can be had, how it is built.

`guard.c` is compiled with the system C compiler into `libgvlguard.so` next to it (git-ignored)
by `make native`, which `make run`, `make test` and `make gate` depend on; the harness builds
it too when it is missing or older than its source, before any child starts, so a checkout
that skipped make still works. Where there is no C compiler everything else works and the
native guard's rows say `UNAVAILABLE_NO_CC`.

Nothing here loads the library or wasmtime: the parent asks and builds; the binding
(binding/native_guard.py) and the Ruby worker load it. Run as `python -m gvlbench.native`
(what the Makefile does): build if needed, or print a note and succeed without a compiler.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).with_name("guard.c")
LIBRARY = Path(__file__).with_name("libgvlguard.so")
CFLAGS = ("-O2", "-std=c11", "-shared", "-fPIC")
LIBS = ("-ldl", "-lpthread")
UNAVAILABLE_NO_CC = "native guard unavailable: no C compiler"


def compiler() -> str | None:
    """The C compiler make would use ($CC, else cc), or None."""
    name = os.environ.get("CC") or "cc"
    return name if shutil.which(name.split()[0]) else None


def is_stale() -> bool:
    """True when the library is missing or older than its source."""
    return not LIBRARY.exists() or LIBRARY.stat().st_mtime < SOURCE.stat().st_mtime


def unavailable_reason() -> str | None:
    """Why the native guard cannot be used here, or None when its library is there (built
    now if it was missing or stale)."""
    if not is_stale():
        return None
    if compiler() is None:
        return None if LIBRARY.exists() else UNAVAILABLE_NO_CC
    build()
    return None


def build() -> Path:
    """Compile guard.c into LIBRARY (into a temporary file first, then renamed: two
    processes building at once each leave a whole library)."""
    cc = compiler()
    if cc is None:
        raise FileNotFoundError(UNAVAILABLE_NO_CC)
    fd, tmp = tempfile.mkstemp(prefix=".libgvlguard-", suffix=".so", dir=LIBRARY.parent)
    os.close(fd)
    try:
        subprocess.run([*cc.split(), *CFLAGS, "-o", tmp, str(SOURCE), *LIBS], check=True)
        os.chmod(tmp, 0o755)
        os.replace(tmp, LIBRARY)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return LIBRARY


def main() -> int:
    if compiler() is None:
        print(f"note: {UNAVAILABLE_NO_CC} (set CC or install one, e.g. apt-get install gcc)")
        return 0
    if is_stale():
        print(f"building {os.path.relpath(LIBRARY)}")
        build()
    return 0
