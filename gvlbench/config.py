"""Reading the project's TOML inputs (scenario specs, gate configs, known defects) one way.

Every such file is user input: whatever is wrong with it (missing, unreadable, not UTF-8, not
TOML, an unknown key, a value of the wrong type) is one `SpecError` naming the file and the
key, which the CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from gvlbench.errors import SpecError


def read_toml(path: Path, what: str) -> tuple[dict[str, Any], bytes]:
    """The parsed table and the file's bytes (for hashing); SpecError on any failure."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8")), raw
    except UnicodeDecodeError:
        raise SpecError(f"{path}: {what} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: {what} is not valid TOML: {exc}") from None


def typed(path: Path, where: str, value: Any, want: type) -> Any:
    """`value` if it is a `want` (an int where a float is wanted is widened; a bool is never
    a number); SpecError naming the key otherwise."""
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, want) or (want is not bool and isinstance(value, bool)):
        raise SpecError(f"{path}: {where} must be a {_name(want)}")
    return value


def _name(want: type) -> str:
    return {str: "string", int: "integer", float: "number", list: "list", dict: "table",
            bool: "boolean"}.get(want, want.__name__)  # fmt: skip
