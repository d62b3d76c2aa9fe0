"""gvlbench: measure and verify what happens when a Wasm call releases the interpreter lock."""

from __future__ import annotations

import functools


def __getattr__(name: str) -> str:
    """`gvlbench.__version__`, looked up on first use: importlib.metadata takes 60-80 ms to
    import, and every CLI start, keeper and measuring child imports this package."""
    if name == "__version__":
        return _version()
    raise AttributeError(f"module 'gvlbench' has no attribute {name!r}")


@functools.cache
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gvlbench")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
