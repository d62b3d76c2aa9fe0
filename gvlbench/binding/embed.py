"""Embedding a scenario: engine, module, one Store + instance per thread, host imports linked.

`Target` (protocol.py) is the language-neutral description of what to call; `validate`
checks it against the compiled module in the harness, before any child is spawned, so a
missing export or a wrong argument is one clean error; `Embedding` is one Store with its
instance and a prepared call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import wasmtime

from gvlbench.binding import hosts
from gvlbench.binding.invoke import CallPath, Mode, check_args, prepare, type_names
from gvlbench.errors import SignatureError, WatError
from gvlbench.protocol import Target


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
            raise SignatureError(
                f"module imports {imp.module}.{imp.name}, the spec provides no host"
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
    """One Store, its instance and a prepared call of the target export."""

    engine: wasmtime.Engine
    module: wasmtime.Module
    target: Target
    mode: Mode
    path: CallPath
    ctx: hosts.HostContext = field(default_factory=hosts.HostContext)

    def __post_init__(self) -> None:
        self.store = wasmtime.Store(self.engine)
        linker = wasmtime.Linker(self.engine)
        for imp in self.target.imports:
            behaviour = hosts.get(imp.host)
            linker.define_func(
                imp.module, imp.name, _functype(behaviour), behaviour.factory(self.ctx)
            )
        self.instance = linker.instantiate(self.store, self.module)
        self.func = self.instance.exports(self.store)[self.target.export]
        self.call = self.new_call()
        # raw and floor return nothing to check: their Store is checked through the lean path
        self._checkable = (
            self.call
            if self.path.checks_results
            else prepare(self.store, self.func, self.target.args, self.mode, CallPath.LEAN)
        )

    def new_call(self) -> Callable[[], Any]:
        """Another prepared call of the export on this same Store (one per thread)."""
        return prepare(self.store, self.func, self.target.args, self.mode, self.path)

    def checked_call(self) -> Any:
        """One call, held to the spec's expectation (a result value, or a trap)."""
        return check_outcome(self.target, self._checkable)


def check_outcome(target: Target, call: Any) -> Any:
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


def make_embeddings(
    target: Target,
    mode: Mode,
    path: CallPath,
    count: int,
    ctxs: Sequence[hosts.HostContext] | None = None,
) -> list[Embedding]:
    """`count` independent Stores of one module on one engine (one per thread)."""
    engine = wasmtime.Engine()
    module = load_module(engine, target.wasm_path)
    validate(module, target)
    ctxs = ctxs or [hosts.HostContext() for _ in range(count)]
    return [Embedding(engine, module, target, mode, path, ctx) for ctx in ctxs]
