"""What a binding is: the one protocol every door into Wasm implements.

A *binding* is how a measuring child calls Wasm: wasmtime-py's core API through ctypes, its
component model, extism's SDK over cffi, gvlbench's Ruby worker over ruby-ffi, or a compiled
extension that embeds an engine of its own. Sightglass keeps its engines behind five C
symbols and never names one; gvlbench does the same here. A binding says, as data:

- which Wasm it runs (`forms`: a core module's export, a component's, an extism plugin's
  function, or Python code that calls it);
- which lock states it can run in and *how* (`modes`: held through a handle that keeps the
  lock, released as it ships, as shipped when gvlbench cannot change it), and why not the
  others (`lacks`);
- which of gvlbench's features apply to it (`features`), and for each one that does not, the
  reason a table shows in its `N/A` row;
- its engine's name and version (`engine`), and the objects two threads must not enter at
  once, for trace (`watched`).

The planner asks these questions and never asks which binding it has. The child's half (how
to compile, instantiate and call) is `Driver`, loaded only in a measuring child: importing a
binding's declaration loads no engine.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from gvlbench.errors import OptionError
from gvlbench.modes import Mode


class Form(enum.StrEnum):
    """What kind of Wasm a target is, and so which bindings can run it."""

    MODULE = "module"  # a core module's export (a scenario's `wat` or `wasm`)
    COMPONENT = "component"  # a component's export (the component model)
    PLUGIN = "plugin"  # an extism plugin's function (bytes in, bytes out)
    CODE = "code"  # Python code the user typed (--setup/--stmt), calling some binding


class Feature(enum.StrEnum):
    """What a plan may ask of a binding. A feature a binding lacks is refused in one line
    when asked for alone, and shown as an `N/A` row with the binding's reason when it is part
    of what a command measures by default."""

    SPEEDUP = "speedup"  # every (mode, threads) cell paired round by round in one child
    BENCH = "bench"  # one pyperf-style benchmark per cell (a worker that cannot pair)
    PROGRESS = "progress"  # a sibling thread's progress during a call
    PHASES = "phases"  # compile, instantiate and call timed apart
    POOL = "pool"  # threads against a process pool
    CALLS = "calls"  # per-call cost of each call path
    SWEEP = "sweep"  # work per call from ~1 us to ~10 ms
    RACE = "race"  # threads on one shared object, trial by trial
    ENTRY_RACE = "entry-race"  # a Store entry point other than the call, raced
    GUARD = "guard"  # gvlbench's Store guard written in the worker's language
    NATIVE_GUARD = "native-guard"  # the C guard on the engine's entry points
    GUARD_COST = "guard-cost"  # every guard design priced on every entry point
    PATCHES = "patches"  # gvlbench's patches to the binding (binding/patches.py)
    VERIFY = "verify"  # the correctness checks
    BINDING_CHECKS = "binding-checks"  # checks of the binding's own code (exception hand-off)
    PROFILE = "profile"  # where a statement's time goes, by the binding's phases
    WASI = "wasi"  # a scenario's [wasi] world
    LIMITS = "limits"  # a scenario's [limits] (fuel, epochs, memory)
    UNKNOWN_IMPORTS = "unknown-imports"  # unknown_imports = "trap" | "default"
    HOST_RAISES = "host-raises"  # expect.raises and gc_stress: Python host callbacks that raise
    TIMELINE = "timeline"  # each thread's states, the lock waits measured in native code


@dataclass(frozen=True)
class Engine:
    """The Wasm engine a binding runs on, as the results file names it."""

    name: str  # wasmtime | extism (wasmtime inside) | wasmer | ... | "unknown"
    version: str | None  # None: the binary does not say
    library: str = ""  # the shared object it lives in, where one was found
    evidence: str = ""  # how it was recognised (a symbol, a crate path in the binary)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "library": self.library,
                "evidence": self.evidence}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Engine:
        return cls(str(data["name"]), data.get("version"), str(data.get("library", "")),
                   str(data.get("evidence", "")))  # fmt: skip

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}" if self.version else f"{self.name} (version unknown)"


@dataclass(frozen=True)
class Watch:
    """Objects two threads must not be inside at once: instances of `cls` (a dotted
    `module:Class` path), entered through `methods` (trace watches them). `("*",)`: through
    every entry point of the binding's (`Binding.watch_points` lists them)."""

    cls: str
    methods: tuple[str, ...]
    what: str = ""  # what the object is, in words ("a Store", "a Plugin")
    # `cls` names a function that makes the classes to watch (a codec class per component)
    classes_from: bool = False
    # why the object serialises its callers itself (a lock inside it): two threads in its
    # methods at once then queue, so trace records it and never calls it a hazard
    serialised: str = ""
    # the shared objects whose engine these objects run (where the binding claims none)
    library: str = ""


@dataclass(frozen=True)
class Capabilities:
    """A binding's abilities, declared as data.

    `modes` maps each lock state the binding can run in to how it gets there; `lacks` maps
    every mode or feature it cannot do to the reason (a feature in neither `features` nor
    `lacks` gets a generic reason, so a new feature never reads as supported)."""

    forms: frozenset[Form]
    modes: Mapping[Mode, str]
    features: frozenset[Feature]
    call_paths: tuple[str, ...] = ("stock",)
    lacks: Mapping[str, str] = field(default_factory=dict)


class Binding:
    """A door into Wasm. Subclasses set the class attributes; most need no method at all.

    `runtime` names the worker that speaks the binding ("python": python -m gvlbench.worker,
    "ruby": gvlbench/ruby/worker.rb). `driver` is the dotted path of the child-side module
    (see `Driver`), imported only in a measuring child."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    runtime: ClassVar[str] = "python"
    lock: ClassVar[str] = "GIL"  # the runtime's interpreter lock, as tables name it
    capabilities: ClassVar[Capabilities]
    driver: ClassVar[str] = ""
    # the lock state its Store accessors (memory, globals, fuel) run in as the binding makes
    # them: wasmtime-py's ctypes.cdll releases; ruby-ffi keeps the GVL for a short function
    accessor_mode: ClassVar[Mode] = Mode.RELEASED
    # A pattern matching the shared objects the binding loads: the code probe's engines in
    # them are this binding's (its driver's count_calls says whether a statement used it)
    libraries: ClassVar[str] = ""
    # whether it calls the wasmtime-py the harness has (its version is the file's
    # wasmtime_version); a binding with an engine of its own names that one instead
    runs_wasmtime_py: ClassVar[bool] = False
    # the binding that stands for a loaded library no other binding claims, which carries an
    # engine: a compiled extension's own (the native binding); at most one has it
    finds_unclaimed: ClassVar[bool] = False
    watched: ClassVar[tuple[Watch, ...]] = ()
    # a stand-in for tests (the fake binding): never offered to `--runtime`, and its runtime
    # is made by a test, never found
    for_tests: ClassVar[bool] = False

    # -- what the planner asks -----------------------------------------------------------

    def runs(self, form: Form) -> bool:
        return form in self.capabilities.forms

    def has(self, feature: Feature) -> bool:
        return feature in self.capabilities.features

    def why_not(self, what: Feature | Mode | Form | str) -> str | None:
        """None when the binding does `what` (a feature, a mode, a form or a call path), else
        why not (one clause, for an error line or an N/A row)."""
        caps = self.capabilities
        if isinstance(what, Form):
            if what in caps.forms:
                return None
        elif isinstance(what, Mode):
            if what in caps.modes:
                return None
        elif isinstance(what, Feature):
            if what in caps.features:
                return None
        elif what in caps.call_paths:
            return None
        key = str(what)
        return caps.lacks.get(key) or f"the {self.name} binding does not do {key}"

    def require(self, what: Feature | Mode | Form | str, option: str) -> None:
        """OptionError (one line, naming the option and the reason) unless it does `what`."""
        reason = self.why_not(what)
        if reason:
            raise OptionError(f"{option}: {reason}")

    def modes(self, requested: Sequence[Mode]) -> tuple[Mode, ...]:
        """The requested modes this binding can run in, in the order asked. A binding whose
        lock gvlbench cannot set runs `as-shipped` where `released` was asked (released is
        what the user wanted to see: whether calls let other threads run)."""
        out: list[Mode] = []
        for mode in requested:
            if mode not in self.capabilities.modes and mode is Mode.RELEASED:
                mode = Mode.AS_SHIPPED
            if mode in self.capabilities.modes and mode not in out:
                out.append(mode)
        return tuple(out)

    def claims(self, path: str) -> bool:
        """Whether the shared object at `path` is one this binding loads."""
        return bool(self.libraries) and re.search(self.libraries, path) is not None

    def watch_points(self, watch: Watch) -> list[tuple[str, str, str, int]]:
        """Where trace enters `watch`'s objects: (module, class, method, the index of the
        argument that holds the object: 0 is self), the class's own methods by default."""
        module, _, qualname = watch.cls.partition(":")
        if watch.classes_from:  # the classes are made later: their methods, on self
            return [(module, "", method, 0) for method in watch.methods]
        return [(module, qualname, method, 0) for method in watch.methods]

    def how(self, mode: Mode) -> str:
        """How the binding runs in `mode`, in words (a table's footnote)."""
        return self.capabilities.modes.get(mode, "") or (self.why_not(mode) or "")

    def find_runtime(self) -> Any:
        """A binding whose worker is not Python finds its runtime here (`--runtime NAME`):
        probed, or InterpreterError saying what to install."""
        raise OptionError(f"the {self.name} binding runs under Python; no --runtime to find")

    def compiled_modules_needed(self) -> bool:
        """Whether its worker needs the harness to compile WAT for it (it has no compiler)."""
        return False

    def engine(self, found: Engine | None = None) -> Engine | None:
        """The engine the results name for this binding: `found` is the one the code probe saw
        in a library the binding claims (None: not probed, as for a scenario). A binding whose
        engine is not the one its library looks like (extism's wasmtime) names it here."""
        return found

    def call_path(self, requested: str) -> str:
        """The call path a row is labelled with: the requested one where the binding has it,
        else its own first (the Ruby worker's one path is ruby-ffi)."""
        paths = self.capabilities.call_paths
        return requested if requested in paths else paths[0]


class Instance(Protocol):
    """One Store (or the binding's equivalent) with a target ready to call, in a child."""

    def call(self) -> Any:
        """The call as timed: as little around it as the binding allows."""
        ...

    def checked_call(self) -> Any:
        """The call, its result held to the target's expectation (ExpectationError)."""
        ...

    def new_call(self) -> Callable[[], Any]:
        """Another call object on this same Store, for a second thread to share it."""
        ...

    # Optional: `distinct_call(index) -> (call, answer)`, caller `index`'s own call on this
    # same Store (an input no other caller sends) and what it returned alone. Where an
    # instance has it, `race` gives each thread its own and counts a differing result wrong.


class Driver(Protocol):
    """The child's half of a binding: how it points the process at a mode, compiles,
    instantiates and calls. A binding's `driver` module exposes one as `DRIVER`. The harness
    uses `validate` too, before any child runs, so that bad input is one line."""

    def validate(self, target: Any) -> None:
        """Compile the target's Wasm and check the export, its arguments and imports against
        it; a UserError (WatError, WasmError, SignatureError) saying what is wrong."""
        ...

    def use_mode(self, mode: Mode) -> None:
        """Make every call this process makes through the binding run in `mode` (a binding
        whose calls go through a process-wide handle, as wasmtime-py's do)."""
        ...

    def count_calls(self) -> Callable[[], int] | None:
        """Count this process's calls into Wasm through the binding from now on (the code
        probe's question: did the statement use it?); a reader of the count, or None when
        the binding's package is not loaded here (so it cannot have been used)."""
        ...

    def instances(
        self, target: Any, mode: Mode, call_path: str, n: int, contexts: Sequence[Any] | None
    ) -> list[Instance]:
        """`n` Stores, each with the target instantiated and a prepared call."""
        ...
