"""Scenario specs: one TOML file per scenario, data only, validated on load.

A spec names its WAT source (relative to the spec file), the export to call, the call's
arguments, optional host imports from the fixed registry in `hosts`, and an optional
expectation (a result value or a trap). Errors name the file and the key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gvlbench.binding import hosts
from gvlbench.config import read_toml, reason, typed
from gvlbench.errors import SpecError, UnknownScenarioError
from gvlbench.protocol import Import

_KNOWN_KEYS = {"description", "measures", "wat", "export", "args", "work_arg", "imports", "expect"}
_IMPORT_KEYS = {"module", "name", "host"}
_EXPECT_KEYS = {"result", "trap"}


@dataclass(frozen=True)
class Scenario:
    """A validated spec. `args` are checked against the export's types later, in `wat`/`embed`."""

    name: str
    spec_path: Path
    description: str
    measures: str
    wat_path: Path
    export: str
    args: tuple[int | float, ...]
    work_arg: int | None
    imports: tuple[Import, ...]
    expect_result: int | float | None
    expect_trap: str | None
    spec_sha256: str

    def with_work(self, work: int) -> Scenario:
        """The same scenario with its work-size argument set to `work`."""
        if self.work_arg is None:
            raise SpecError(f"{self.spec_path}: scenario has no `work_arg` to scale")
        args = list(self.args)
        args[self.work_arg] = work
        return replace(self, args=tuple(args))


def data_dirs() -> tuple[Path, Path]:
    """Where the built-in scenarios and WAT live: inside the wheel, or the repository's top."""
    here = Path(__file__).resolve().parent
    packaged = here / "data"
    if (packaged / "scenarios").is_dir():
        return packaged / "scenarios", packaged / "wat"
    return here.parent / "scenarios", here.parent / "wat"


def known_defects_path() -> Path:
    """The known-defects file: inside the wheel, or at the repository's top."""
    scenarios_dir, _ = data_dirs()
    return scenarios_dir.parent / "known-defects.toml"


def builtin() -> list[Scenario]:
    """Every built-in scenario, by name."""
    scenarios_dir, _ = data_dirs()
    return [load_spec(p) for p in sorted(scenarios_dir.glob("*.toml"))]


def find(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a spec file anywhere by path."""
    looks_like_path = name_or_path.endswith(".toml") or "/" in name_or_path
    if looks_like_path:
        return load_spec(Path(name_or_path))
    scenarios_dir, _ = data_dirs()
    path = scenarios_dir / f"{name_or_path}.toml"
    if not _is_file(path):
        known = ", ".join(p.stem for p in sorted(scenarios_dir.glob("*.toml")))
        raise UnknownScenarioError(f"no scenario named {name_or_path!r} (known: {known})")
    return load_spec(path)


def load_spec(path: Path) -> Scenario:
    """Read and validate one spec file; every problem is a SpecError naming file and key."""
    data, raw = read_toml(path, "spec")
    return _validate(path, data, hashlib.sha256(raw).hexdigest())


def _validate(path: Path, data: dict[str, Any], sha256: str) -> Scenario:
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise SpecError(f"{path}: unknown key {sorted(unknown)[0]!r}")
    wat_path = _wat_source(path, _require(path, data, "wat", str))
    args = data.get("args", [])
    if not isinstance(args, list) or not all(_is_number(a) for a in args):
        raise SpecError(f"{path}: key 'args': must be a list of numbers")
    work_arg = data.get("work_arg")
    if work_arg is not None and not (_is_index(work_arg) and 0 <= work_arg < len(args)):
        raise SpecError(f"{path}: key 'work_arg': must index into 'args' (0..{len(args) - 1})")
    expect = data.get("expect", {})
    if not isinstance(expect, dict) or set(expect) - _EXPECT_KEYS:
        raise SpecError(f"{path}: key 'expect': a table with 'result' or 'trap'")
    if "result" in expect and not _is_number(expect["result"]):
        raise SpecError(f"{path}: key 'expect.result': must be a number")
    if "trap" in expect and not isinstance(expect["trap"], str):
        raise SpecError(f"{path}: key 'expect.trap': must be a string the trap message contains")
    return Scenario(
        name=path.stem,
        spec_path=path.resolve(),
        description=_optional_str(path, data, "description"),
        measures=_optional_str(path, data, "measures"),
        wat_path=wat_path,
        export=_require(path, data, "export", str),
        args=tuple(args),
        work_arg=work_arg,
        imports=_imports(path, data.get("imports", [])),
        expect_result=expect.get("result"),
        expect_trap=expect.get("trap"),
        spec_sha256=sha256,
    )


def _wat_source(path: Path, wat: str) -> Path:
    """The spec's WAT file, resolved against the spec's folder, checked to be UTF-8 text (as
    the text format requires) here, so a bad source is the spec's error and names its key."""
    try:
        wat_path = (path.parent / wat).resolve()
        found = wat_path.is_file()
        source = wat_path.read_bytes() if found else b""
    except (OSError, ValueError, RuntimeError) as exc:  # too long, a NUL, a symlink loop
        raise SpecError(f"{path}: key 'wat': cannot read {wat!r}: {reason(exc)}") from None
    if not found:
        raise SpecError(f"{path}: key 'wat': no such file {wat_path}")
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(f"{path}: key 'wat': {wat_path} is not a text file (not UTF-8)") from None
    return wat_path


def _is_file(path: Path) -> bool:
    """Path.is_file, False for a name the OS cannot even look up (too long, a NUL in it)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _imports(path: Path, items: Any) -> tuple[Import, ...]:
    if not isinstance(items, list):
        raise SpecError(f"{path}: key 'imports': must be an array of tables ([[imports]])")
    out = []
    for i, item in enumerate(items):
        where = f"{path}: key 'imports[{i}]'"
        if not isinstance(item, dict) or set(item) != _IMPORT_KEYS:
            raise SpecError(f"{where}: needs exactly 'module', 'name' and 'host'")
        if not all(isinstance(item[k], str) for k in _IMPORT_KEYS):
            raise SpecError(f"{where}: 'module', 'name' and 'host' must be strings")
        if item["host"] not in hosts.BEHAVIOURS:
            raise SpecError(
                f"{where}.host: unknown host behaviour {item['host']!r} "
                f"(known: {', '.join(hosts.names())})"
            )
        out.append(Import(item["module"], item["name"], item["host"]))
    return tuple(out)


def _require(path: Path, data: dict[str, Any], key: str, typ: type) -> Any:
    if key not in data:
        raise SpecError(f"{path}: missing key {key!r}")
    return typed(path, f"key {key!r}:", data[key], typ)


def _optional_str(path: Path, data: dict[str, Any], key: str) -> str:
    return typed(path, f"key {key!r}:", data.get(key, ""), str)


def _is_index(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
