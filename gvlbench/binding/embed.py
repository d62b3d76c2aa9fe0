"""Embedding a scenario: engine, module, one Store + instance per thread, host imports linked.

`Target` (protocol.py) is the language-neutral description of what to call; `validate`
checks it against the compiled module in the harness, before any child is spawned, so a
missing export or a wrong argument is one clean error; `Embedding` is one Store with its
instance and a prepared call. A WASI command is different: `_start` runs once per instance,
so each of its calls is a fresh Store and instance (what an embedder pays per request), and
what it printed and its exit status are the call's result.
"""

from __future__ import annotations

import gc
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from gvlbench.binding import hosts
from gvlbench.binding.invoke import CallPath, Mode, check_args, prepare, type_names
from gvlbench.binding.world import Output, engine_for, is_wasi_import, prepare_store
from gvlbench.errors import SignatureError, WatError
from gvlbench.protocol import Target

# Calls whose expected exception arrived in the wrong thread (wasmtime-py hands a callback's
# exception over through one module-global slot: the known defect exceptions-concurrent).
# Counted per process, not failed: the run reports them against the known defect.
MISROUTED: Counter[str] = Counter()


@dataclass(frozen=True)
class CommandResult:
    """What one run of a WASI command gave back."""

    exit_code: int
    stdout: str


class ExpectationError(AssertionError):
    """A call returned something other than the spec's expectation: a finding, not bad input."""


def load_module(engine: wasmtime.Engine, wasm_path: str) -> wasmtime.Module:
    """Compile a .wasm file; a module wasmtime rejects (a type error that a text-only WAT
    parser let through, say) is a WatError carrying wasmtime's innermost reason."""
    with open(wasm_path, "rb") as fh:
        data = fh.read()
    try:
        return wasmtime.Module(engine, data)
    except wasmtime.WasmtimeError as exc:
        reason = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][-1]
        raise WatError(f"wasmtime rejected the module: {reason.split(': ', 1)[-1]}") from None


def validate(module: wasmtime.Module, target: Target) -> None:
    """SignatureError unless the export exists, is a function, and the arguments and imports fit."""
    exports = {e.name: e.type for e in module.exports}
    if target.export not in exports:
        names = ", ".join(sorted(exports)) or "none"
        raise SignatureError(f"module has no export {target.export!r} (exports: {names})")
    ty = exports[target.export]
    if not isinstance(ty, wasmtime.FuncType):
        raise SignatureError(f"export {target.export!r} is not a function")
    check_args(target.export, type_names(ty.params), target.args)
    provided = {(i.module, i.name): i.host for i in target.imports}
    for imp in module.imports:
        key = (imp.module, imp.name)
        if key not in provided:
            if (target.wasi is not None and is_wasi_import(imp.module)) or target.unknown_imports:
                continue
            hint = " ([wasi] provides WASI)" if is_wasi_import(imp.module) else ""
            raise SignatureError(
                f"module imports {imp.module}.{imp.name}, the spec provides no host{hint} "
                f'(or set unknown_imports = "trap")'
            )
        want = hosts.get(provided[key])
        got = imp.type
        if not isinstance(got, wasmtime.FuncType) or (
            type_names(got.params),
            type_names(got.results),
        ) != (want.params, want.results):
            raise SignatureError(
                f"import {imp.module}.{imp.name} has type {got}, host {want.name!r} "
                f"is ({', '.join(want.params)}) -> ({', '.join(want.results)})"
            )


def _functype(b: hosts.Behaviour) -> wasmtime.FuncType:
    return wasmtime.FuncType(
        [getattr(wasmtime.ValType, p)() for p in b.params],
        [getattr(wasmtime.ValType, r)() for r in b.results],
    )


@dataclass
class Embedding:
    """One Store, its instance and a prepared call of the target export (for a WASI command:
    every call a fresh Store and instance of the same compiled module)."""

    engine: wasmtime.Engine
    module: wasmtime.Module
    target: Target
    mode: Mode
    path: CallPath
    ctx: hosts.HostContext = field(default_factory=hosts.HostContext)

    def __post_init__(self) -> None:
        self.output = Output() if self.target.wasi is not None else None
        self.linker = self._linker()
        self.instantiate()
        if self.target.is_command:
            self.call: Callable[[], Any] = self.run_command
            self._checkable = self.run_command
            return
        self.call = self.new_call()
        # raw and floor return nothing to check: their Store is checked through the lean path
        self._checkable = (
            self.call
            if self.path.checks_results
            else prepare(self.store, self.func, self.target.args, self.mode, CallPath.LEAN)
        )

    def _linker(self) -> wasmtime.Linker:
        linker = wasmtime.Linker(self.engine)
        for imp in self.target.imports:
            behaviour = hosts.get(imp.host)
            linker.define_func(
                imp.module, imp.name, _functype(behaviour), behaviour.factory(self.ctx)
            )
        if self.target.wasi is not None:
            linker.define_wasi()
        if self.target.unknown_imports == "trap":
            linker.define_unknown_imports_as_traps(self.module)
        elif self.target.unknown_imports == "default":
            linker.define_unknown_imports_as_default_values(self.module)
        return linker

    def instantiate(self) -> None:
        """A new Store (limits, WASI) and instance: the instantiate phase."""
        self.store = wasmtime.Store(self.engine)
        prepare_store(self.store, self.target, self.output)
        self.instance = self.linker.instantiate(self.store, self.module)
        self.func = self.instance.exports(self.store)[self.target.export]

    def start(self) -> int:
        """Run `_start` on the current instance: the call phase of a command. Its exit code
        (0 when it returns without calling proc_exit)."""
        call = prepare(self.store, self.func, (), self.mode, self.path)
        try:
            call()
        except wasmtime.ExitTrap as exit_:
            return exit_.code
        return 0

    def run_command(self) -> CommandResult:
        """One run of a WASI command, as an embedder pays it per request."""
        self.instantiate()
        code = self.start()
        return CommandResult(code, self.output.stdout() if self.output else "")

    def new_call(self) -> Callable[[], Any]:
        """Another prepared call of the export on this same Store (one per thread)."""
        return prepare(self.store, self.func, self.target.args, self.mode, self.path)

    def checked_call(self) -> Any:
        """One call, held to the spec's expectation (a result value, or a trap)."""
        return check_outcome(self.target, self._checkable)


def check_outcome(target: Target, call: Any) -> Any:
    """One call held to the target's expectation; ExpectationError says how it missed."""
    if target.expect_raises is not None:
        return _expect_raises(target, call)
    if target.is_command:
        return _expect_command(target, call())
    if target.expect_trap is None:
        result = call()
        if target.expect_result is not None and result != target.expect_result:
            raise ExpectationError(
                f"{target.export} returned {result!r}, expected {target.expect_result!r}"
            )
        return result
    try:
        result = call()
    except wasmtime.Trap as trap:
        if target.expect_trap not in str(trap):
            raise ExpectationError(
                f"trap message {str(trap)!r} lacks {target.expect_trap!r}"
            ) from None
        return None
    raise ExpectationError(f"{target.export} returned {result!r}, expected a trap")


def _expect_raises(target: Target, call: Any) -> None:
    """The call must raise `expect_raises` (from a host callback). One that carries another
    thread's mark is the known defect exceptions-concurrent: counted in MISROUTED, not
    failed; any other exception, or none, is a failure."""
    try:
        result = call()
    except Exception as exc:
        if isinstance(exc, wasmtime.WasmtimeError) and "python exception" in str(exc):
            # the callback raised, but its exception was taken by another thread's call
            MISROUTED["lost to another thread"] += 1
            return None
        if type(exc).__name__ != target.expect_raises:
            raise ExpectationError(
                f"{target.export} raised {type(exc).__name__}: {exc}, "
                f"expected {target.expect_raises}"
            ) from None
        thread = getattr(exc, "thread", None)
        if thread is not None and thread != threading.get_ident():
            MISROUTED["another thread's"] += 1
        return None
    raise ExpectationError(
        f"{target.export} returned {result!r}, expected it to raise {target.expect_raises}"
    )


def _expect_command(target: Target, got: CommandResult) -> CommandResult:
    want_code = target.expect_exit_code if target.expect_exit_code is not None else 0
    if got.exit_code != want_code:
        raise ExpectationError(f"the command exited {got.exit_code}, expected {want_code}")
    if target.expect_stdout is not None and got.stdout != target.expect_stdout:
        raise ExpectationError(
            f"stdout differs: {first_difference(got.stdout, target.expect_stdout)}"
        )
    return got


def first_difference(got: str, want: str) -> str:
    """Where two outputs part: 'line 2: got 'x', expected 'y''."""
    got_lines, want_lines = got.splitlines(), want.splitlines()
    for n, (a, b) in enumerate(zip(got_lines, want_lines, strict=False), 1):
        if a != b:
            return f"line {n}: got {a[:80]!r}, expected {b[:80]!r}"
    if len(got_lines) != len(want_lines):
        n = min(len(got_lines), len(want_lines)) + 1
        more = "more" if len(got_lines) > len(want_lines) else "fewer"
        return f"line {n}: the command printed {more} lines than expected"
    return "the same lines, different line endings"


def make_embeddings(
    target: Target,
    mode: Mode,
    path: CallPath,
    count: int,
    ctxs: Sequence[hosts.HostContext] | None = None,
) -> list[Embedding]:
    """`count` independent Stores of one module on one engine (one per thread)."""
    if target.gc_stress:  # collections everywhere, host callbacks included (as verify does)
        gc.set_threshold(10, 1, 1)
    engine = engine_for(target)
    module = load_module(engine, target.wasm_path)
    validate(module, target)
    ctxs = ctxs or [hosts.HostContext() for _ in range(count)]
    return [Embedding(engine, module, target, mode, path, ctx) for ctx in ctxs]
