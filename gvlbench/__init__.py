"""gvlbench: measure and verify what happens when a Wasm call releases the interpreter lock."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gvlbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
