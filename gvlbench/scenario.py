"""Scenario specs: one TOML file per scenario, data only, validated on load.

A spec names its module, either WAT source (`wat`) or a compiled binary (`wasm`: a path, or a
file inside an installed Python package), both relative to the spec file; the export to
call and its arguments; host imports from the fixed registry in `hosts`; what to do with
imports nobody provides; a WASI world (`[wasi]`); engine limits (`[limits]`); and an
expectation (a result, a trap, a command's stdout and exit code, or an exception). An extism
plugin (`form = "plugin"`) has an `input` and an `expect.output` (or `expect.trap`: its
function fails, with an error text containing it) instead. Errors name the file and the key.
See docs/scenarios.md.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import importlib.util
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gvlbench.binding import hosts
from gvlbench.bindings.base import Form
from gvlbench.config import read_toml, reason, table, typed
from gvlbench.errors import SpecError, UnknownScenarioError
from gvlbench.files import MAX_WASM_BYTES, MAX_WAT_BYTES, read_input
from gvlbench.protocol import Import, Limits, Wasi

_KNOWN_KEYS = {"description", "measures", "wat", "wasm", "export", "args", "work_arg",
               "imports", "expect", "unknown_imports", "wasi", "limits", "gc_stress",
               "form", "input"}  # fmt: skip
_IMPORT_KEYS = {"module", "name", "host"}
_EXPECT_KEYS = {"result", "trap", "stdout", "exit_code", "raises", "output"}
# what a plugin (form = "plugin") has: bytes in, bytes out, no arguments, imports or worlds
_PLUGIN_KEYS = {"description", "measures", "wat", "wasm", "export", "form", "input", "expect"}
_PLUGIN_EXPECT_KEYS = {"output", "trap"}  # trap: the function fails
_WASI_KEYS = {"args", "env", "stdin", "stdin_file", "preopen"}
_LIMIT_KEYS = {"fuel": int, "epoch_deadline_ms": float, "max_memory_bytes": int}
WASM_MAGIC = b"\0asm"


@dataclass(frozen=True)
class Scenario:
    """A validated spec. `args` are checked against the export's types later, in `wat`/`embed`."""

    name: str
    spec_path: Path
    description: str
    measures: str
    wat_path: Path | None  # exactly one of wat_path and wasm_path
    export: str
    args: tuple[int | float | str, ...]  # strings for a component only
    work_arg: int | None
    imports: tuple[Import, ...]
    expect_result: int | float | str | None
    expect_trap: str | None
    spec_sha256: str
    wasm_path: Path | None = None
    expect_stdout: str | None = None
    expect_exit_code: int | None = None
    expect_raises: str | None = None
    unknown_imports: str | None = None
    wasi: Wasi | None = None
    limits: Limits = field(default_factory=Limits)
    gc_stress: bool = False
    # what kind of Wasm it is, so which binding runs it: a core module (the default), a
    # component, or an extism plugin
    form: Form = Form.MODULE
    # a plugin's input and the output it must give (text, sent and compared as UTF-8)
    input: str | None = None
    expect_output: str | None = None

    @property
    def source_path(self) -> Path:
        """The module's file: the WAT source, or the compiled binary."""
        return self.wat_path or self.wasm_path  # type: ignore[return-value]

    @property
    def is_command(self) -> bool:
        """A WASI command: `_start` runs once per instance."""
        return self.wasi is not None and self.export == "_start"

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
    form = _form(path, data.get("form", Form.MODULE.value))
    _check_form_keys(path, form, data)
    if ("wat" in data) == ("wasm" in data):
        raise SpecError(f"{path}: give exactly one of 'wat' (WAT source) and 'wasm' (a binary)")
    wat_path = (
        _wat_source(path, typed(path, "key 'wat':", data["wat"], str)) if "wat" in data else None
    )
    wasm_path = _wasm_source(path, data["wasm"]) if "wasm" in data else None
    wasi = _wasi(path, table(path, "wasi", data["wasi"])) if "wasi" in data else None
    form = _form(path, data.get("form", Form.MODULE.value))
    # a component's exports take strings too (WIT's string and char): its scenarios may pass them
    value_ok, value = (_is_value, "number or string") if form is Form.COMPONENT else (
        _is_number, "number")  # fmt: skip
    args = data.get("args", [])
    if not isinstance(args, list) or not all(value_ok(a) for a in args):
        raise SpecError(f"{path}: key 'args': must be a list of {value}s")
    work_arg = data.get("work_arg")
    if work_arg is not None and not (
        _is_index(work_arg) and 0 <= work_arg < len(args) and _is_number(args[work_arg])
    ):
        last = len(args) - 1
        raise SpecError(f"{path}: key 'work_arg': must index a number in 'args' (0..{last})")
    expect = data.get("expect", {})
    if not isinstance(expect, dict) or set(expect) - _EXPECT_KEYS:
        known = ", ".join(sorted(_EXPECT_KEYS))
        raise SpecError(f"{path}: key 'expect': a table of at most {known}")
    if "result" in expect and not value_ok(expect["result"]):
        raise SpecError(f"{path}: key 'expect.result': must be a {value}")
    if "trap" in expect and not isinstance(expect["trap"], str):
        raise SpecError(f"{path}: key 'expect.trap': must be a string the trap message contains")
    for key, want in (("stdout", str), ("exit_code", int), ("raises", str), ("output", str)):
        if key in expect:
            typed(path, f"key 'expect.{key}'", expect[key], want)
    export = _require(path, data, "export", str) if "export" in data or not wasi else "_start"
    is_command = wasi is not None and export == "_start"
    if ("stdout" in expect or "exit_code" in expect) and not is_command:
        raise SpecError(f"{path}: key 'expect': stdout and exit_code are for a WASI command "
                        "(a [wasi] table and export '_start')")  # fmt: skip
    unknown_imports = data.get("unknown_imports")
    if unknown_imports is not None and unknown_imports not in ("trap", "default"):
        raise SpecError(f'{path}: key \'unknown_imports\': "trap" or "default"')
    return Scenario(
        name=path.stem,
        spec_path=path.resolve(),
        description=_optional_str(path, data, "description"),
        measures=_optional_str(path, data, "measures"),
        wat_path=wat_path,
        export=export,
        args=tuple(args),
        work_arg=work_arg,
        imports=_imports(path, data.get("imports", [])),
        expect_result=expect.get("result"),
        expect_trap=expect.get("trap"),
        spec_sha256=sha256,
        wasm_path=wasm_path,
        expect_stdout=expect.get("stdout"),
        expect_exit_code=expect.get("exit_code", 0 if is_command else None),
        expect_raises=expect.get("raises"),
        unknown_imports=unknown_imports,
        wasi=wasi,
        limits=_limits(path, table(path, "limits", data.get("limits", {}))),
        gc_stress=typed(path, "key 'gc_stress'", data.get("gc_stress", False), bool),
        form=form,
        input=typed(path, "key 'input':", data["input"], str) if "input" in data else None,
        expect_output=expect.get("output"),
    )


def _check_form_keys(path: Path, form: Form, data: dict[str, Any]) -> None:
    """A plugin takes bytes and gives bytes: the keys of a module's function (arguments,
    imports, worlds, limits) are refused for it, and its own (`input`, `expect.output`) for
    anything else, each in one line naming the key."""
    expect = data.get("expect", {})
    keys = [*data, *(f"expect.{k}" for k in expect)] if isinstance(expect, dict) else list(data)
    for key in keys:
        top, _, sub = key.partition(".")
        plugin_key = top in _PLUGIN_KEYS and (not sub or sub in _PLUGIN_EXPECT_KEYS)
        if form is Form.PLUGIN and not plugin_key and top in _KNOWN_KEYS:
            raise SpecError(f"{path}: key {key!r}: not for a plugin (form = \"plugin\" takes "
                            "'input', and 'expect.output' or 'expect.trap')")  # fmt: skip
        if form is not Form.PLUGIN and key in ("input", "expect.output"):
            raise SpecError(f'{path}: key {key!r}: only for form = "plugin"')
    if form is Form.PLUGIN and isinstance(expect, dict) and {"output", "trap"} <= set(expect):
        raise SpecError(f"{path}: key 'expect': a plugin's function gives an output or fails "
                        "(expect.trap), not both")  # fmt: skip


def _form(path: Path, value: Any) -> Form:
    forms = [str(f) for f in Form if f is not Form.CODE]
    if value not in forms:
        raise SpecError(f"{path}: key 'form': one of {', '.join(map(repr, forms))}")
    return Form(value)


def _wasm_source(path: Path, wasm: Any) -> Path:
    """A compiled module: a path relative to the spec, or `{package, path}`, a file inside an
    installed Python package. Only its first bytes are checked here (the engine validates it
    when a command prepares it: loading a spec never loads libwasmtime)."""
    if isinstance(wasm, dict):
        if set(wasm) != {"package", "path"} or not all(isinstance(v, str) for v in wasm.values()):
            raise SpecError(f"{path}: key 'wasm': a path, or {{ package = ..., path = ... }}")
        found = _package_file(path, wasm["package"], wasm["path"])
    else:
        found = (path.parent / typed(path, "key 'wasm':", wasm, str)).resolve()
    try:
        head = read_input(found, "the module", SpecError, MAX_WASM_BYTES, head=4)
    except SpecError as exc:
        raise SpecError(f"{path}: key 'wasm': {exc}") from None
    if head != WASM_MAGIC:
        raise SpecError(f"{path}: key 'wasm': {found} is not a Wasm binary (no \\0asm header)")
    return found


def _package_file(path: Path, package: str, inner: str) -> Path:
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        dist = package.replace("_", "-")
        raise SpecError(f"{path}: key 'wasm': package {package!r} is not installed "
                        f"(pip install {dist})")  # fmt: skip
    resource = importlib.resources.files(package).joinpath(inner)
    if not resource.is_file():
        raise SpecError(f"{path}: key 'wasm': package {package!r} has no file {inner!r}")
    return Path(str(resource))


def _wasi(path: Path, data: dict[str, Any]) -> Wasi:
    unknown = set(data) - _WASI_KEYS
    if unknown:
        raise SpecError(f"{path}: unknown key 'wasi.{sorted(unknown)[0]}'")
    args = typed(path, "key 'wasi.args'", data.get("args", []), list)
    env = table(path, "wasi.env", data.get("env", {}))
    if not all(isinstance(a, str) for a in args) or not all(
        isinstance(v, str) for v in env.values()
    ):
        raise SpecError(f"{path}: key 'wasi': args and env values must be strings")
    if "stdin" in data and "stdin_file" in data:
        raise SpecError(f"{path}: key 'wasi': give stdin or stdin_file, not both")
    stdin_file = None
    if "stdin_file" in data:
        stdin_file = path.parent / typed(path, "key 'wasi.stdin_file'", data["stdin_file"], str)
        if not _is_file(stdin_file):
            raise SpecError(f"{path}: key 'wasi.stdin_file': no such file {stdin_file}")
    return Wasi(
        args=tuple(args),
        env=tuple(sorted(env.items())),
        stdin=typed(path, "key 'wasi.stdin'", data["stdin"], str) if "stdin" in data else None,
        stdin_file=str(stdin_file.resolve()) if stdin_file else None,
        preopens=_preopens(path, typed(path, "key 'wasi.preopen'", data.get("preopen", []), list)),
    )


def _preopens(path: Path, items: list[Any]) -> tuple[tuple[str, str], ...]:
    out = []
    for i, item in enumerate(items):
        where = f"key 'wasi.preopen[{i}]'"
        if (
            not isinstance(item, dict)
            or set(item) != {"host", "guest"}
            or not all(isinstance(v, str) for v in item.values())
        ):
            raise SpecError(f'{path}: {where}: a table {{ host = "dir", guest = "/dir" }}')
        host = (path.parent / item["host"]).resolve()
        if not host.is_dir():
            raise SpecError(f"{path}: {where}.host: no such directory {host}")
        out.append((str(host), item["guest"]))
    return tuple(out)


def _limits(path: Path, data: dict[str, Any]) -> Limits:
    unknown = set(data) - set(_LIMIT_KEYS)
    if unknown:
        raise SpecError(f"{path}: unknown key 'limits.{sorted(unknown)[0]}'")
    values = {k: typed(path, f"key 'limits.{k}'", v, _LIMIT_KEYS[k]) for k, v in data.items()}
    if any(v <= 0 for v in values.values()):
        raise SpecError(f"{path}: key 'limits': every limit must be positive")
    return Limits(**values)


def _wat_source(path: Path, wat: str) -> Path:
    """The spec's WAT file, resolved against the spec's folder, checked to be UTF-8 text (as
    the text format requires) here, so a bad source is the spec's error and names its key."""
    try:
        wat_path = (path.parent / wat).resolve()
        found = wat_path.exists()
    except (OSError, ValueError, RuntimeError) as exc:  # too long, a NUL, a symlink loop
        raise SpecError(f"{path}: key 'wat': cannot read {wat!r}: {reason(exc)}") from None
    if not found:
        raise SpecError(f"{path}: key 'wat': no such file {wat_path}")
    try:
        source = read_input(wat_path, "WAT", SpecError, MAX_WAT_BYTES)
    except SpecError as exc:
        raise SpecError(f"{path}: key 'wat': {exc}") from None
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


def _is_value(value: Any) -> bool:
    """A number or a string: what a component scenario may pass (the binding checks each
    against the export's WIT types)."""
    return _is_number(value) or isinstance(value, str)
