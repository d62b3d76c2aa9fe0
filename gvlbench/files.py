"""One way to write a file that readers may be reading, and one way to read a file the user
names.

Results, JUnit reports and the compiled-WAT cache are all read while gvlbench may be writing
them (a second gvlbench, a CI step, a crash of ours halfway). Each is written to a temporary
file beside its destination and renamed over it, so a reader sees the old file or the new one,
never half of one; on any error, the temporary file is removed.

Every file the user names and gvlbench reads whole (a spec, a config, WAT, a module, a results
file) is read by `read_input`: a regular file only (a FIFO would block the harness forever,
/dev/zero or /dev/urandom would never end), no larger than a bound; anything else is one line.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gvlbench.errors import OptionError, UserError

# The most gvlbench reads of each kind of input: far above any real one, far below a size
# that would take the harness down.
MAX_TEXT_BYTES = 16 << 20  # a scenario spec, a gate config, known defects
MAX_WAT_BYTES = 64 << 20
MAX_WASM_BYTES = 512 << 20
MAX_RESULTS_BYTES = 256 << 20


def read_input(path: Path, what: str, error: type[UserError], max_bytes: int,
               head: int | None = None) -> bytes:  # fmt: skip
    """The bytes of a regular file (only its first `head` bytes, if given), at most
    `max_bytes`; `error` in one line naming `path` and `what` otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise error(f"{path}: cannot read {what}: {_reason(exc)}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise error(f"{path}: {what} is not a regular file ({_kind(info.st_mode)})")
    if head is None and info.st_size > max_bytes:
        os.close(fd)
        raise error(f"{path}: {what} is larger than gvlbench reads ({max_bytes >> 20} MiB)")
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(max_bytes + 1 if head is None else head)
        except OSError as exc:
            raise error(f"{path}: cannot read {what}: {_reason(exc)}") from None
    if len(data) > max_bytes:
        raise error(f"{path}: {what} is larger than gvlbench reads ({max_bytes >> 20} MiB)")
    return data


def _kind(mode: int) -> str:
    kinds = ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket"))  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a file")


def _reason(exc: Exception) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` atomically, readable as a file `open()` would create it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from others
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Output paths: checked before any work, and a failure to write at the end reported after the
# command has said what it measured, never in place of it.
_UNWRITTEN: dict[str, str] = {}


def check_output(path: Path, what: str, directory: bool = False, stdout: bool = False) -> None:
    """Before any work: `path` can be written as a file (or made as a folder): not a folder
    (a file), not a FIFO or a device, not under a file, in a folder this process can write
    in (a probe file made and removed there proves it). OptionError, one line, otherwise."""
    where = f"{what} {path}"
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # under a file: said just below
        info = None
    except (OSError, ValueError) as exc:  # a name too long, a NUL, a symlink loop
        raise OptionError(f"{where}: {_reason(exc)}") from None
    if info is not None and directory and not stat.S_ISDIR(info.st_mode):
        raise OptionError(f"{where}: not a directory ({_kind(info.st_mode)})")
    if info is not None and not directory and not stat.S_ISREG(info.st_mode):
        hint = ": give a file, or '-' for stdout" if stdout else ": give a file"
        raise OptionError(f"{where}: not a regular file ({_kind(info.st_mode)}){hint}")
    folder = path if info is not None and directory else _existing_parent(path, where)
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".gvlbench-probe-")
    except OSError as exc:
        raise OptionError(f"{where}: cannot write in {folder}: {_reason(exc)}") from None
    os.close(fd)
    os.unlink(probe)


def _existing_parent(path: Path, where: str) -> Path:
    """The nearest folder above `path` that exists: where its missing folders will be made."""
    for parent in path.absolute().parents:
        try:
            info = parent.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise OptionError(f"{where}: {_reason(exc)}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise OptionError(f"{where}: {parent} is not a directory ({_kind(info.st_mode)})")
        return parent
    raise OptionError(f"{where}: no folder above it exists")


@contextlib.contextmanager
def reported_later(path: Path, what: str) -> Iterator[None]:
    """Write an output: an OSError (a full disk, its folder removed since the check) is kept
    for `unwritten`, and the command goes on to report what it measured."""
    try:
        yield
    except OSError as exc:
        _UNWRITTEN[str(path)] = f"could not write {what} {path}: {_reason(exc)}"
    else:
        _UNWRITTEN.pop(str(path), None)  # written after all, by a later attempt


def unwritten() -> list[str]:
    """One line per output that could not be written (the CLI says them last, exit 2)."""
    return list(_UNWRITTEN.values())
