"""wasmtime-py's component model (`wasmtime.component`): a scenario with `form = "component"`.

A component is called through wasmtime-py's own `Func.__call__` (then `post_return`, as
wasmtime-py's tests and docs do): it lowers the arguments by the canonical ABI (a string
through the guest's realloc), enters the Store through `wasmtime_component_func_type` and
`wasmtime_component_func_call`, and lifts the result. As for core calls, wasmtime-py loads
libwasmtime with `ctypes.cdll`, so the call releases the GIL; gvlbench holds it by pointing
wasmtime-py's binding of `wasmtime_component_func_call` at a `ctypes.PyDLL` function of the
same library (binding/component_calls.py). It is one call path: the prepared lean and raw
calls are for core functions.

Every call is checked: it is held to the scenario's expected result and raises
ExpectationError when it misses, so a race on one shared Store counts a wrong result as
wrong. Where the expected result is one of the string arguments (an echo), each call sends
that argument with a suffix of its own and expects it back: a call that gets another call's
suffix got another call's result. A component instance that trapped refuses every later
call with "cannot enter component instance" (so a component scenario cannot expect a trap:
only its first call could give it); that error is raised as `PoisonedStoreError` (the
library's words kept), so a race tells the poisoned Store's refusals from the trap that
poisoned it.
"""

from __future__ import annotations

import atexit
import itertools
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from gvlbench.bindings.base import Binding, Capabilities, Feature, Form, Instance, Watch
from gvlbench.modes import Mode

_ONE_PATH = ("a component has one call path, wasmtime-py's Func.__call__: the prepared "
             "calls pass core values (wasmtime_val_t)")  # fmt: skip

CAPABILITIES = Capabilities(
    forms=frozenset({Form.COMPONENT}),
    modes={
        Mode.HELD: "wasmtime_component_func_call through a ctypes.PyDLL handle of wasmtime-py's "
        "own library: the GIL is kept for the whole call, realloc and post-return included",
        Mode.RELEASED: "through ctypes.CDLL, as wasmtime-py ships: ctypes drops the GIL around "
        "every foreign call",
        Mode.FREE_THREADED: "a free-threaded CPython: no lock to keep or drop",
    },
    features=frozenset(
        {
            *(Feature.SPEEDUP, Feature.BENCH, Feature.PROGRESS, Feature.POOL, Feature.RACE),
            *(Feature.GUARD, Feature.NATIVE_GUARD, Feature.PATCHES, Feature.VERIFY),
            Feature.BINDING_CHECKS,
        }
    ),
    call_paths=("stock",),
    lacks={
        Feature.TIMELINE: "the timeline times wasmtime_func_call; a component's calls "
        "(wasmtime_component_func_call) are not timed yet",
        Form.MODULE: 'a core module is the wasmtime-py binding\'s: drop form = "component"',
        Form.PLUGIN: "an extism plugin is a core module called through extism's ABI",
        Form.CODE: "a --stmt calls whatever its code imports, through wasmtime-py's binding",
        "lean": _ONE_PATH,
        "raw": _ONE_PATH,
        "floor": "the floor call prices a core call's ctypes glue; drop --call-path",
        Feature.PHASES: "compile, instantiate and call are timed apart on core modules only "
        "(worker/phases.py)",
        Feature.CALLS: "`gvlbench calls` prices the core call paths; a component has one",
        Feature.SWEEP: "the work sweep builds core embeddings (worker/sweep.py)",
        Feature.ENTRY_RACE: "--entry-race races a core Store's accessors (memory, globals, "
        "fuel), which a component does not hand out",
        Feature.GUARD_COST: "the guards are priced per entry point on a core Store's accessors",
        Feature.PROFILE: "profile follows a --stmt, which runs through wasmtime-py's binding",
        Feature.WASI: "[wasi] (a scenario's WASI world is WASIp1's; a component's is WASIp2, "
        "Linker.add_wasip2)",
        Feature.LIMITS: "[limits] (not wired to component Stores)",
        Feature.UNKNOWN_IMPORTS: "unknown_imports (a component scenario imports nothing)",
        Feature.HOST_RAISES: "gc_stress and expect.raises (they need host functions; a "
        "component scenario has none)",
    },
)


class ComponentBinding(Binding):
    name = "component"
    summary = "wasmtime-py's component model (wasmtime.component: Component, Linker, Func)"
    capabilities = CAPABILITIES
    driver = __name__
    runs_wasmtime_py = True
    libraries = r"/wasmtime/[^/]+/_?libwasmtime\.(so|dylib|dll)$"
    watched = (Watch("wasmtime:Store", ("*",), "a wasmtime-py Store holding component "
                     "instances, through every entry point that takes it"),)  # fmt: skip

    def watch_points(self, watch: Watch) -> list[tuple[str, str, str, int]]:
        """A component Store is entered through the component model's own classes: the
        store-guard patch's list of them (binding/component_calls.py)."""
        if watch.methods != ("*",):
            return super().watch_points(watch)
        from gvlbench.binding.component_calls import store_entry_points

        return [("wasmtime.component", cls.__name__, name, index)
                for cls, name, index in store_entry_points()]  # fmt: skip


BINDING = ComponentBinding()


class PoisonedStoreError(RuntimeError):
    """A component call the Store refused because an earlier call in it trapped: wasmtime
    marks the instance as unusable ("cannot enter component instance"), for good."""


POISONED = "cannot enter component instance"
_TAGS = itertools.count()  # per call object, process-wide: no two calls send the same echo


def _checked(target: Any, result: Any, expected: Any) -> Any:
    from gvlbench.binding.embed import ExpectationError

    if expected is not None and result != expected:
        raise ExpectationError(f"{target.export} returned {result!r:.200}, expected "
                               f"{expected!r:.200}")  # fmt: skip
    return result


class ComponentInstance:
    """One Store with the component instantiated and its export looked up: `call` and every
    `new_call()` are checked calls of the export (see the module's docstring)."""

    def __init__(self, loaded: Any, target: Any):
        import wasmtime

        engine, component, linker = loaded
        self.target = target
        self.store = wasmtime.Store(engine)
        self.instance = linker.instantiate(self.store, component)
        self.func = self.instance.get_func(self.store, target.export)
        echo = [i for i, a in enumerate(target.args)
                if isinstance(a, str) and a == target.expect_result]  # fmt: skip
        self._echo = echo[0] if echo else None
        self.call = self.new_call()

    def new_call(self) -> Callable[[], Any]:
        """Another checked call on this Store (one per thread that shares it)."""
        import wasmtime

        store, func, target, echo = self.store, self.func, self.target, self._echo
        args, tag, numbers = list(target.args), next(_TAGS), itertools.count()

        def call() -> Any:
            expected = target.expect_result
            if echo is not None:
                expected = args[echo] = f"{target.args[echo]}#{tag}.{next(numbers)}"
            try:
                result = func(store, *args)
                func.post_return(store)  # a no-op since wasmtime 42, as users still call it
            except wasmtime.WasmtimeError as exc:
                text = str(exc)
                if POISONED in text:
                    raise PoisonedStoreError(text.strip().splitlines()[-1]) from exc
                raise
            return _checked(target, result, expected)

        return call

    def checked_call(self) -> Any:
        return self.call()


@cache
def _loaded(wasm_path: str) -> tuple[Any, Any, Any]:
    """(engine, component, linker) of a compiled component, once per process: Stores and
    instances are made from them per thread."""
    import wasmtime
    from wasmtime import component as cm

    from gvlbench.errors import WatError

    engine = wasmtime.Engine()
    with open(wasm_path, "rb") as fh:
        data = fh.read()
    try:
        component = cm.Component(engine, data)
    except wasmtime.WasmtimeError as exc:
        reason = [ln.strip() for ln in str(exc).splitlines() if ln.strip()][-1]
        raise WatError(f"wasmtime rejected the component: {reason}") from None
    if not _loaded.cache_info().currsize:  # freed while wasmtime-py can still free them
        atexit.register(_loaded.cache_clear)
    return engine, component, cm.Linker(engine)


class Driver:
    """The child's half: wasmtime-py's component call pointed per mode, and a Store with the
    component instantiated per thread."""

    def validate(self, target: Any) -> None:
        engine, component, _ = _loaded(target.wasm_path)
        check_signature(engine, component, target)

    def use_mode(self, mode: Mode) -> None:
        from gvlbench.binding import component_calls

        component_calls.use_mode(mode)

    def count_calls(self) -> None:
        return None  # a --stmt's component calls run through the wasmtime-py binding

    def instances(
        self, target: Any, mode: Mode, call_path: str, n: int, contexts: Sequence[Any] | None
    ) -> list[Instance]:
        BINDING.require(str(call_path), "--call-path")
        self.validate(target)
        self.use_mode(mode)
        loaded = _loaded(target.wasm_path)
        return [ComponentInstance(loaded, target) for _ in range(len(contexts or ()) or n)]


DRIVER = Driver()


# -- the scenario against the component's types ------------------------------------------------

_INT_BITS = {"U8": (False, 8), "U16": (False, 16), "U32": (False, 32), "U64": (False, 64),
             "S8": (True, 8), "S16": (True, 16), "S32": (True, 32), "S64": (True, 64)}  # fmt: skip


def type_name(ty: Any) -> str:
    """A component value type as WIT spells it (u64, string, ...)."""
    return type(ty).__name__.lower().removesuffix("type")


def fits(ty: Any, value: Any) -> bool:
    """Whether a spec value converts to the component type `ty` exactly: an integer in its
    range, a number for a float, a str for a string, one character for a char, a bool for a
    bool. Anything else (lists, records, resources) a scenario cannot spell."""
    kind = type(ty).__name__
    if kind in _INT_BITS:
        signed, bits = _INT_BITS[kind]
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    if kind in ("F32", "F64"):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "String":
        return isinstance(value, str)
    if kind == "Char":
        return isinstance(value, str) and len(value) == 1
    return kind == "Bool" and isinstance(value, bool)


def check_signature(engine: Any, component: Any, target: Any) -> None:
    """SignatureError unless the component exports `target.export` as a function whose
    parameters take the spec's arguments and whose result can be the expected one, and
    imports nothing (the binding defines no host functions)."""
    from wasmtime import component as cm

    from gvlbench.errors import SignatureError

    if target.expect_trap is not None:
        raise SignatureError("expect.trap: a trap poisons a component instance (its Store "
                             "refuses every later call), so a component scenario cannot "
                             "repeat a trapping call")  # fmt: skip
    imports = sorted(component.type.imports(engine))
    if imports or target.imports:
        what = f"imports {', '.join(imports)}" if imports else "spec lists [[imports]]"
        raise SignatureError(f"the component's {what}: the component binding defines no host "
                             "functions, so a component scenario must import nothing")  # fmt: skip
    exports = {name: _type_of(ext) for name, ext in component.type.exports(engine).items()}
    ty = exports.get(target.export)
    if ty is None:
        names = ", ".join(sorted(exports)) or "none"
        raise SignatureError(f"component has no export {target.export!r} (exports: {names})")
    if not isinstance(ty, cm.FuncType):
        raise SignatureError(f"export {target.export!r} is not a function")
    params = ty.params
    shown = ", ".join(f"{n}: {type_name(t)}" for n, t in params) or "none"
    if len(target.args) != len(params):
        raise SignatureError(f"export {target.export!r} takes {len(params)} argument(s) "
                             f"({shown}), the spec gives {len(target.args)}")  # fmt: skip
    for i, ((name, pty), value) in enumerate(zip(params, target.args, strict=True)):
        if not fits(pty, value):
            raise SignatureError(f"export {target.export!r}: argument {i} ({name}) must be a "
                                 f"{type_name(pty)}, got {value!r}")  # fmt: skip
    result, expected = ty.result, target.expect_result
    if expected is not None and (result is None or not fits(result, expected)):
        returns = type_name(result) if result is not None else "nothing"
        raise SignatureError(f"export {target.export!r} returns {returns}: expect.result "
                             f"{target.expect_result!r} cannot be its result")  # fmt: skip


def _type_of(export: Any) -> Any:
    """An export's type: a ComponentExtern carries it in `.ty` (49 on); before 49 the
    component type lists its exports as the types themselves (internals.CHANGES)."""
    from gvlbench.binding import internals

    return export.ty if internals.has("component items") else export
