"""One way to write a file that readers may be reading: atomically.

Results, JUnit reports and the compiled-WAT cache are all read while gvlbench may be writing
them (a second gvlbench, a CI step, a crash of ours halfway). Each is written to a temporary
file beside its destination and renamed over it, so a reader sees the old file or the new one,
never half of one; on any error, the temporary file is removed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
