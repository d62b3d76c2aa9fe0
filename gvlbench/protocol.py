"""The contract between the harness and its measuring children: typed tasks, one per kind.

A task travels as one JSON object on the child's stdin; the child answers with one JSON object
on stdout (`{"protocol": 1, "ok": true, "kind": ..., ...}` or `{"ok": false, "error": ...}`).
The Python worker (`gvlbench.worker`) and the Ruby worker (`gvlbench/ruby/worker.rb`) read the
same keys, so the wire format is fixed here and nowhere else: each task kind is a frozen
dataclass whose fields are its keys, with one writer (`Task.to_json`) and one reader
(`parse_task`). See docs/protocol.md.

This module imports nothing that loads libwasmtime: both sides of the pipe import it.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import time
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gvlbench.designs import GUARDS
from gvlbench.modes import GIL_MODES, Mode

PROTOCOL = 1

# A child may announce on stderr when its real work starts (epoch seconds), so that a
# race's time-to-crash excludes interpreter start-up and compilation.
STARTED_MARKER = "gvlbench-started-at:"


def announce_start() -> None:
    """Called by a child when its real work begins (written to stderr, read by the harness)."""
    print(f"{STARTED_MARKER} {time.time():.6f}", file=sys.stderr, flush=True)


class CallPath(enum.StrEnum):
    """How a call is made. STOCK and LEAN are bindings (they check and convert, and may be
    used everywhere); RAW and FLOOR exist to price them in `gvlbench calls`: RAW does not read
    its results and FLOOR does not call Wasm at all."""

    STOCK = "stock"
    LEAN = "lean"
    RAW = "raw"
    FLOOR = "floor"

    @classmethod
    def bindings(cls) -> tuple[CallPath, ...]:
        return (cls.STOCK, cls.LEAN)

    @property
    def checks_results(self) -> bool:
        return self in (CallPath.STOCK, CallPath.LEAN)


@dataclass(frozen=True)
class Import:
    """One host import of a scenario: the module's import name bound to a registry behaviour."""

    module: str
    name: str
    host: str


@dataclass(frozen=True)
class Wasi:
    """A WASI program's world: argv (argv[0] included), environment, stdin (text, or a file)
    and read-only preopened directories (host path, guest path). stdout and stderr are never
    inherited: the worker captures them per call into files of its own."""

    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    stdin: str | None = None
    stdin_file: str | None = None
    preopens: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "args": list(self.args),
            "env": dict(self.env),
            "stdin": self.stdin,
            "stdin_file": self.stdin_file,
            "preopens": [list(p) for p in self.preopens],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Wasi:
        return cls(
            args=tuple(data.get("args", [])),
            env=tuple(sorted(data.get("env", {}).items())),
            stdin=data.get("stdin"),
            stdin_file=data.get("stdin_file"),
            preopens=tuple((h, g) for h, g in data.get("preopens", [])),
        )


@dataclass(frozen=True)
class Limits:
    """What the engine itself stops: fuel (instructions, roughly), a wall-clock deadline
    through epochs, and linear memory. None: no limit of that kind."""

    fuel: int | None = None
    epoch_deadline_ms: float | None = None
    max_memory_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Limits:
        return cls(**data)

    def __bool__(self) -> bool:
        return any(v is not None for v in dataclasses.astuple(self))


@dataclass(frozen=True)
class Target:
    """What to call, language-neutral: a compiled .wasm file, an export, its arguments, host
    behaviours by registry name, and the expectation each checked call is held to.

    A target with `wasi` whose export is `_start` is a WASI command: it runs once per
    instance, so every call is a fresh Store and instance (the module is compiled once).
    The keys after `expect` are written only when set, so a worker that predates them (or
    does not support them: Ruby's, for WASI) reads an older target unchanged."""

    wasm_path: str
    export: str
    args: tuple[Any, ...]
    imports: tuple[Import, ...] = ()
    expect_result: Any = None
    expect_trap: str | None = None
    expect_stdout: str | None = None
    expect_exit_code: int | None = None  # a command's: 0 unless the spec says otherwise
    expect_raises: str | None = None  # an exception's class name, raised by a host callback
    unknown_imports: str | None = None  # trap | default | None (every import provided)
    wasi: Wasi | None = None
    limits: Limits = field(default_factory=Limits)
    gc_stress: bool = False
    form: str = "module"  # bindings.Form: module | component | plugin (its binding runs it)
    input: str | None = None  # a plugin's input (UTF-8), where `args` are a function's
    expect_output: str | None = None  # what a plugin's function must output (UTF-8)

    @property
    def is_command(self) -> bool:
        return self.wasi is not None and self.export == "_start"

    def to_json(self) -> dict[str, Any]:
        expect = (("result", self.expect_result), ("trap", self.expect_trap),
                  ("stdout", self.expect_stdout), ("exit_code", self.expect_exit_code),
                  ("raises", self.expect_raises), ("output", self.expect_output))  # fmt: skip
        doc: dict[str, Any] = {
            "wasm_path": self.wasm_path,
            "export": self.export,
            "args": list(self.args),
            "imports": [dataclasses.asdict(i) for i in self.imports],
            "expect": {k: v for k, v in expect if v is not None},
        }
        if self.unknown_imports:
            doc["unknown_imports"] = self.unknown_imports
        if self.wasi is not None:
            doc["wasi"] = self.wasi.to_json()
        if self.limits:
            doc["limits"] = self.limits.to_json()
        if self.gc_stress:
            doc["gc_stress"] = True
        if self.form != "module":
            doc["form"] = self.form
        if self.input is not None:
            doc["input"] = self.input
        return doc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        expect = data.get("expect", {})
        wasi = data.get("wasi")
        return cls(
            wasm_path=data["wasm_path"],
            export=data["export"],
            args=tuple(data["args"]),
            imports=tuple(Import(**i) for i in data.get("imports", [])),
            expect_result=expect.get("result"),
            expect_trap=expect.get("trap"),
            expect_stdout=expect.get("stdout"),
            expect_exit_code=expect.get("exit_code"),
            expect_raises=expect.get("raises"),
            unknown_imports=data.get("unknown_imports"),
            wasi=Wasi.from_json(wasi) if wasi is not None else None,
            limits=Limits.from_json(data.get("limits", {})),
            gc_stress=bool(data.get("gc_stress", False)),
            form=str(data.get("form", "module")),
            input=data.get("input"),
            expect_output=expect.get("output"),
        )


@dataclass(frozen=True)
class Code:
    """A Python-code target, in the convention of `python -m timeit`: `setup` runs once per
    measuring process, `per_thread_setup` in each thread for the state that thread owns, and
    `stmt` is what is measured (its value, when it ends in an expression, is its result).
    This is code the user typed on the command line; spec files stay data."""

    stmt: str
    setup: tuple[str, ...] = ()
    per_thread_setup: tuple[str, ...] = ()
    # the binding the code calls Wasm through, as the harness's probe found it (bindings/);
    # "" before the probe: wasmtime-py's, as the code is run to find out
    binding: str = ""

    def to_json(self) -> dict[str, Any]:
        doc = {"stmt": self.stmt, "setup": list(self.setup),
               "per_thread_setup": list(self.per_thread_setup)}  # fmt: skip
        if self.binding:
            doc["binding"] = self.binding
        return doc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Code:
        return cls(data["stmt"], tuple(data.get("setup", ())),
                   tuple(data.get("per_thread_setup", ())),
                   str(data.get("binding", "")))  # fmt: skip

    @staticmethod
    def matches(data: Any) -> bool:
        return isinstance(data, dict) and "stmt" in data


@dataclass(frozen=True)
class PyperfOptions:
    """pyperf's knobs. Defaults are lighter than pyperf's own (20 processes x 3 values):
    gvlbench's calls are long and its box has 2 cores; --rigorous gets closer to pyperf."""

    processes: int = 4
    values: int = 3
    warmups: int = 1
    min_time: float = 0.1
    loops: int = 0

    @classmethod
    def preset(cls, name: str) -> PyperfOptions:
        return {
            "fast": cls(processes=2, values=3),
            "default": cls(),
            "rigorous": cls(processes=10, values=5, min_time=0.2),
        }[name]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PyperfOptions:
        return cls(**data)


# -- tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Task:
    """A unit of work for one child. Subclasses name their `kind` and declare their keys."""

    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The wire form: {"protocol", "kind", then every field}; None fields are left out."""
        doc: dict[str, Any] = {"protocol": PROTOCOL, "kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and not (f.name in _OMITTED_EMPTY and not value):
                doc[f.name] = _to_wire(value)
        return doc

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        hints = typing.get_type_hints(cls)
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                values[f.name] = _from_wire(hints[f.name], data[f.name])
        return cls(**values)


# keys a task writes only when set: a worker that predates them reads the task unchanged
_OMITTED_EMPTY = ("patches", "timeline")


def _to_wire(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_to_wire(v) for v in value]
    return value


def _from_wire(hint: Any, value: Any) -> Any:
    base = typing.get_origin(hint) or hint
    if base is typing.Union or isinstance(hint, type(int | None)):  # X | Y | None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        chosen = [a for a in inner if getattr(a, "matches", None) and a.matches(value)]
        return _from_wire((chosen or inner)[0], value)
    if isinstance(base, type) and hasattr(base, "from_json"):
        return base.from_json(value)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return base(value)
    if base is tuple:
        args = typing.get_args(hint)
        return tuple(_from_wire(args[0], v) for v in value) if args else tuple(value)
    return value


@dataclass(frozen=True, kw_only=True)
class CallTask(Task):
    """A task that calls one target with the lock held or released, along one call path
    (`call_path` is a string: Python's paths, or the Ruby worker's own). The target is a
    module's export, or Python code (`Code`: Python workers only, always the stock path: it
    calls wasmtime-py as the user's package does). `patches` (PATCH_NAMES) are applied to
    wasmtime-py before anything else runs; the key is written only when set."""

    target: Target | Code
    mode: Mode
    call_path: str
    patches: tuple[str, ...] = ()

    @property
    def code(self) -> Code | None:
        return self.target if isinstance(self.target, Code) else None


@dataclass(frozen=True, kw_only=True)
class BenchTask(CallTask):
    """T threads, each on its own Store, timed by pyperf (in pyperf's own worker processes)."""

    kind: ClassVar[str] = "bench"
    name: str
    threads: int
    guard: bool = False
    check_each_call: bool = True  # False: checked once, then timed bare (`gvlbench calls`)
    pyperf: PyperfOptions = field(default_factory=PyperfOptions)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class SpeedupTask(Task):
    """Every (mode, thread count) cell of one target in one child, paired round by round:
    each round times every cell once, so each round gives a ratio (worker/speedup.py). The
    lone-thread batch of `loops` calls takes about `batch_s`; rounds stop early past
    `budget_s` (after three at least), and the answer says how many there were."""

    kind: ClassVar[str] = "speedup"
    target: Target | Code
    call_path: str
    modes: tuple[Mode, ...]
    threads: tuple[int, ...]
    rounds: int = 20
    batch_s: float = 0.05
    budget_s: float = 60.0
    patches: tuple[str, ...] = ()
    # record each cell's threads' states in twin cells timed in the same rounds (a timeline)
    timeline: bool = False

    @property
    def code(self) -> Code | None:
        return self.target if isinstance(self.target, Code) else None


@dataclass(frozen=True, kw_only=True)
class ProgressTask(CallTask):
    """A sibling thread's progress during single calls; then, with `overlap_threads` > 1,
    how much that many concurrent calls overlap. `timeline`: the caller's and the sibling's
    states during each measured call, recorded too."""

    kind: ClassVar[str] = "progress"
    repeats: int
    overlap_threads: int = 0
    timeline: bool = False


EXECUTORS = ("threads", "processes")  # what a pool job runs its workers on

# Binding patches a child can apply to wasmtime-py before running (binding/patches.py), named
# here so the harness can check a name without loading the binding.
PATCH_NAMES = (
    "store-guard",
    "store-guard-native",
    "store-guard-affinity",
    "store-guard-mutex",
    "thread-local-exceptions",
)


@dataclass(frozen=True, kw_only=True)
class PoolTask(CallTask):
    """One whole job of `total_calls` calls over `threads` workers: threads or processes."""

    kind: ClassVar[str] = "pool"
    threads: int
    executor: str  # threads | processes
    total_calls: int
    repeats: int = 1


# The Store guards (designs.py): `python` is written in the worker's own language
# (binding/guard.py, or the Ruby worker's StoreGuard); `native` (the owner word), `affinity`
# and `mutex` are the C shim gvlbench/native/guard.c.
GUARD_KINDS = GUARDS


@dataclass(frozen=True, kw_only=True)
class RaceTask(CallTask):
    """N threads calling for `duration_s`, on one shared Store or a Store each; with `guard`,
    every call goes through the Store guard of kind `guard_kind`."""

    kind: ClassVar[str] = "race"
    threads: int
    store: str  # shared | per-thread
    guard: bool
    duration_s: float
    guard_kind: str = "python"  # GUARD_KINDS; a task without it means the python guard
    entry: str = ""  # designs.ENTRY_RACES: race this Store entry point against its owner
    timeline: bool = False  # the threads' states recorded (the first calls of each)


@dataclass(frozen=True, kw_only=True)
class GuardCostTask(CallTask):
    """Paired, interleaved batches of the plain call and the call through each guard."""

    kind: ClassVar[str] = "guard-cost"
    rounds: int
    guards: tuple[str, ...] = ("python",)  # GUARD_KINDS
    entry: str = "call"  # designs.ENTRIES: the call, or an accessor of wat/entries.wat


@dataclass(frozen=True, kw_only=True)
class PhasesTask(CallTask):
    """Compile, instantiate and call timed apart, as Sightglass does: `rounds` rounds of
    `threads` threads compiling the module from its bytes at once, then instantiating at
    once, then making one call each on its fresh instance at once."""

    kind: ClassVar[str] = "phases"
    threads: int
    rounds: int = 3


@dataclass(frozen=True, kw_only=True)
class CodeProbeTask(CallTask):
    """Run a code target's setup, then its statement alone, then once in a fresh thread: what
    fails here is bad input (a property of the code), told before any measuring starts."""

    kind: ClassVar[str] = "code-probe"


@dataclass(frozen=True, kw_only=True)
class ProfileTask(CallTask):
    """Where one statement's time goes: hooks on wasmtime-py's public classes time the
    binding's phases, in `rounds` rounds of plain and hooked runs, for about `budget_s`."""

    kind: ClassVar[str] = "profile"
    budget_s: float = 2.0
    rounds: int = 5
    timeline: bool = False  # the statement's and a sibling's states in the progress rounds


@dataclass(frozen=True, kw_only=True)
class CallsTask(Task):
    """Every (call path, mode) of one call, in interleaved batches; with `threads` above 1,
    each path also by that many threads at once (each on its own Store), for its scaling."""

    kind: ClassVar[str] = "calls"
    target: Target
    rounds: int
    paths: tuple[CallPath, ...]
    modes: tuple[Mode, ...]
    threads: int = 1


@dataclass(frozen=True, kw_only=True)
class SweepPointTask(Task):
    """Alternating rounds of two cells at one work size: T threads held and T released, or
    (modes: free-threaded alone) 1 thread and T threads, the scaling of a build with no GIL."""

    kind: ClassVar[str] = "sweep-point"
    target: Target
    call_path: CallPath
    threads: int
    rounds: int
    modes: tuple[Mode, ...] = GIL_MODES


@dataclass(frozen=True, kw_only=True)
class CheckTask(Task):
    """One correctness check, `repeat` times. `modules` (check module name -> .wasm path) is
    for a worker that cannot compile WAT itself (Ruby)."""

    kind: ClassVar[str] = "check"
    check: str
    mode: Mode
    call_path: str
    threads: int
    repeat: int
    sabotage: bool = False
    modules: dict[str, str] | None = None
    patches: tuple[str, ...] = ()  # binding patches (PATCH_NAMES) applied before the check


@dataclass(frozen=True, kw_only=True)
class LegalUsesTask(Task):
    """Under one guard design (`none` or designs.GUARDS, put on every Store by its binding
    patch), the legal uses of a Store a guard may refuse (designs.LEGAL_USES), each tried
    once: `entries` and `reenter` are the .wasm paths of wat/entries.wat and wat/reenter.wat."""

    kind: ClassVar[str] = "legal-uses"
    design: str
    entries: str
    reenter: str


TASKS: dict[str, type[Task]] = {
    t.kind: t
    for t in (BenchTask, SpeedupTask, ProgressTask, PoolTask, RaceTask, GuardCostTask, CallsTask,
              SweepPointTask, CheckTask, PhasesTask, CodeProbeTask, ProfileTask, LegalUsesTask)
}  # fmt: skip


def parse_task(data: Any) -> Task:
    """The one reader of the wire form: ValueError for anything that is not a known task."""
    if not isinstance(data, dict):
        raise ValueError("a task is a JSON object")
    if data.get("protocol") != PROTOCOL:
        raise ValueError(f"unsupported protocol {data.get('protocol')!r}")
    kind = TASKS.get(data.get("kind", ""))
    if kind is None:
        raise ValueError(f"unknown task kind {data.get('kind')!r}")
    return kind.from_json(data)
