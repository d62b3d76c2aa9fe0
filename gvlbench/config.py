"""Reading the project's TOML inputs (scenario specs, gate configs, known defects) one way.

Every such file is user input: whatever is wrong with it (missing, unreadable, not UTF-8, not
TOML, an unknown key, a value of the wrong type) is one `UserError` naming the file and the
key (`SpecError` for a scenario spec, `ConfigError` for the others), which the CLI prints as
one line with exit code 2.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from gvlbench.errors import SpecError, UserError
from gvlbench.files import MAX_TEXT_BYTES, read_input


def read_toml(
    path: Path, what: str, error: type[UserError] = SpecError
) -> tuple[dict[str, Any], bytes]:
    """The parsed table and the file's bytes (for hashing); `error` on any failure."""
    raw = read_input(path, what, error, MAX_TEXT_BYTES)
    try:
        return tomllib.loads(raw.decode("utf-8")), raw
    except UnicodeDecodeError:
        raise error(f"{path}: {what} is not a text file (not UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: {what} is not valid TOML: {exc}") from None
    except RecursionError:
        raise error(f"{path}: {what} is nested too deeply to read") from None


def typed(
    path: Path, where: str, value: Any, want: type, error: type[UserError] = SpecError
) -> Any:
    """`value` if it is a `want` (an int where a float is wanted is widened; a bool is never
    a number); `error` naming the key otherwise."""
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
        raise error(f"{path}: {where} must be {_name(want)}")
    return value


def table(path: Path, where: str, value: Any, error: type[UserError] = SpecError) -> dict:
    """A TOML table (`[where]`), or `error`."""
    if not isinstance(value, dict):
        raise error(f"{path}: {where} must be a table ([{where}])")
    return value


def reason(exc: Exception) -> str:
    """An OS error's own words, without Python's decoration."""
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc)


def _name(want: type) -> str:
    return {str: "a string", int: "an integer", float: "a number", list: "a list",
            dict: "a table", bool: "a boolean"}.get(want, f"a {want.__name__}")  # fmt: skip
