"""extism's Python SDK over cffi: a plugin's function called with bytes, bytes back.

The SDK (`extism.Plugin`) calls libextism_sys.so, which embeds its own wasmtime, through cffi,
and cffi drops the GIL around every foreign call. gvlbench points the SDK at the same library
through ctypes instead (binding/extism_abi.py): PyDLL keeps the GIL for each C call (`held`),
CDLL drops it as cffi does (`released`); both run the SDK's own `Plugin.call` unchanged, so
held against released prices the lock alone, in scenarios (form = "plugin") and in an
unmodified program's `--stmt` alike.

What holding cannot do: `Plugin.call` is four C calls (the call, then its error, output
length and output data), each taking the plugin's mutex on its own, with the SDK's Python
between them. Another thread's call on the same Plugin can land in between, held or not, and
the first caller then reads the other's output: no error, a wrong answer. So `race` checks
every thread's output against that thread's own input's answer (`distinct_call`). A function
that fails (`expect.trap`) answers with its error text (`PluginFailed`), held to the caller's
own the same way: the SDK reads the error after the call, in a C call of its own, and the text
it reads lives in a buffer the plugin's next call frees.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gvlbench.bindings.base import Binding, Capabilities, Engine, Feature, Form, Instance, Watch
from gvlbench.errors import OptionError, SignatureError, WasmError
from gvlbench.modes import Mode

_SDK_ONLY = "the extism binding calls plugins through the SDK's Plugin.call"
_NO_STORE = "extism keeps its wasmtime Store inside the runtime, out of reach"

# profile: a --stmt's time whole, and whether it lets a sibling run (its phases are inside
# the runtime: PHASES is lacking, and the profile table says so)
_FEATURES = (Feature.SPEEDUP, Feature.BENCH, Feature.PROGRESS, Feature.POOL, Feature.RACE,
             Feature.GUARD, Feature.PROFILE)  # fmt: skip

CAPABILITIES = Capabilities(
    forms=frozenset({Form.PLUGIN, Form.CODE}),
    modes={
        Mode.HELD: "the C functions of extism.Plugin.call through a ctypes.PyDLL handle of the "
        "SDK's own libextism_sys.so: the GIL is kept for each (not between them)",
        Mode.RELEASED: "the same functions through ctypes.CDLL, which drops the GIL around "
        "each, as the SDK's cffi does",
        Mode.FREE_THREADED: "a free-threaded CPython: no lock to keep or drop (needs extism "
        "and cffi installed in it)",
    },
    features=frozenset(_FEATURES),
    lacks={
        Feature.TIMELINE: "the timeline times wasmtime_func_call; extism calls its plugin "
        "through libextism_sys, which it does not time",
        Form.MODULE: "an extism plugin is a module that imports the Extism kernel: give "
        'form = "plugin"',
        Form.COMPONENT: "extism runs core modules (plugins), not components",
        Mode.AS_SHIPPED: "released is how the SDK ships it (cffi drops the GIL)",
        "lean": f"{_SDK_ONLY} (the stock path): gvlbench has no leaner call of its own",
        Feature.PHASES: "extism compiles and instantiates inside the runtime: no phases apart",
        Feature.CALLS: f"{_SDK_ONLY}, one path: price it with `run extism_noop --threads 1` "
        "(held and released cells, paired)",
        Feature.SWEEP: "a plugin's work is in its input, which --sweep does not scale",
        Feature.ENTRY_RACE: f"a plugin has no Store entry point but the call: {_NO_STORE}",
        Feature.NATIVE_GUARD: f"the native guard wraps libwasmtime's entry points; {_NO_STORE}",
        Feature.GUARD_COST: f"the designs are priced on libwasmtime's entry points; {_NO_STORE}",
        Feature.PATCHES: "gvlbench's patches change wasmtime-py, not the extism SDK",
        Feature.VERIFY: "the checks call wasmtime-py's API",
        Feature.BINDING_CHECKS: "the checks call wasmtime-py's API",
        Feature.WASI: "a plugin scenario has no [wasi] world (the binding loads wasi=False)",
        Feature.LIMITS: "extism's own limits (a manifest's memory and timeout) are not mapped",
        Feature.UNKNOWN_IMPORTS: "extism refuses an import it does not provide",
        Feature.HOST_RAISES: "a plugin scenario has no Python host functions",
    },
)


class Extism(Binding):
    name = "extism"
    summary = "extism's Python SDK (extism.Plugin) over cffi: libextism_sys, wasmtime inside"
    capabilities = CAPABILITIES
    driver = __name__
    libraries = r"/extism_sys/libextism_sys\.(so|dylib|dll)$"
    watched = (Watch("extism:Plugin", ("call",), "an extism Plugin, through Plugin.call"),)

    def engine(self, found: Engine | None = None) -> Engine:
        """extism, named with the wasmtime it embeds: `found` is the engine the code probe saw
        in libextism_sys.so; without it (a scenario), the library is scanned here."""
        from gvlbench.binding import extism_abi

        if found is None:
            found = _scanned(str(extism_abi.library_path()))
        inner = found.version if found is not None and found.name == "wasmtime" else None
        version = extism_abi.versions()["extism-sys"] or None
        return Engine(f"extism (wasmtime {inner or 'inside, version unknown'})", version,
                      found.library if found else str(extism_abi.library_path()),
                      found.evidence if found else "")  # fmt: skip


@functools.cache
def _scanned(path: str) -> Engine | None:
    from gvlbench import engines

    try:
        hits = [h for h in engines.scan_file(path) if h.engine == "wasmtime"]
    except (OSError, ValueError):
        return None
    return Engine(hits[0].engine, hits[0].version, path, hits[0].evidence) if hits else None


BINDING = Extism()


@dataclass(frozen=True)
class PluginFailed:
    """A failing plugin call's answer: the error text extism.Error carried. Compared like an
    output, so a caller handed another request's error is a wrong answer, not a pass."""

    error: str

    def __repr__(self) -> str:
        return f"error {self.error!r}"


class PluginInstance:
    """One extism.Plugin with the target's function and input ready to call. Calls go
    through the SDK's own Plugin.call, so whichever handle `_lib` points at is the mode."""

    def __init__(self, plugin: Any, target: Any, error: type[Exception]) -> None:
        self.plugin = plugin
        self._name: str = target.export
        self._input = (target.input or "").encode()
        self._want = None if target.expect_output is None else target.expect_output.encode()
        self._trap: str | None = target.expect_trap
        self._error = error  # the SDK's extism.Error
        self.call = self.new_call()

    def new_call(self) -> Callable[[], bytes | PluginFailed]:
        """A second caller of this same Plugin (what threads sharing it race through)."""
        return self._caller(self._input)

    def _caller(self, data: bytes) -> Callable[[], bytes | PluginFailed]:
        """Plugin.call(function, data); where the function is expected to fail, its error
        comes back as a PluginFailed answer (any other exception still raises)."""
        call, name, error = self.plugin.call, self._name, self._error
        if self._trap is None:
            return lambda: call(name, data)

        def failing() -> bytes | PluginFailed:
            try:
                return call(name, data)
            except error as exc:
                return PluginFailed(str(exc))

        return failing

    def checked_call(self) -> bytes | PluginFailed:
        """One call, held to `expect.output`, or to failing with `expect.trap` in its error
        text (ExpectationError)."""
        out = self.call()
        if self._trap is not None:
            if not isinstance(out, PluginFailed) or self._trap not in out.error:
                self._missed(out, f"an error containing {self._trap!r}")
        elif self._want is not None and out != self._want:
            self._missed(out, repr(self._want[:80]))
        return out

    def _missed(self, out: bytes | PluginFailed, wanted: str) -> None:
        from gvlbench.binding.embed import ExpectationError

        got = out if isinstance(out, PluginFailed) else out[:80]
        raise ExpectationError(f"{self._name} returned {got!r}, expected {wanted}")

    def distinct_call(self, index: int) -> tuple[Callable[[], bytes | PluginFailed], Any]:
        """Caller `index`'s own call of this Plugin, with an input no other caller sends (the
        scenario's input and "/thread<index>"), and the answer that input gives when called
        alone, now, before any racing thread starts: a race holds each answer to its own."""
        self.checked_call()  # the scenario's own input still gives its expected answer
        call = self._caller(self._input + b"/thread%d" % index)
        return call, call()


class Driver:
    """The child's half: the SDK pointed at the mode's handle, a Plugin per thread made from
    one compiled plugin, and (for validate) the plugin loaded once in the harness."""

    def validate(self, target: Any) -> None:
        from gvlbench.binding import extism_abi

        sdk = extism_abi.sdk()
        try:
            plugin = sdk.Plugin(Path(target.wasm_path).read_bytes(), wasi=False, functions=[])
        except sdk.Error as exc:
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or ["no reason"]
            raise WasmError(f"extism refused the plugin: {lines[0]}") from None
        functions = _functions(target.wasm_path)
        params, results = functions.get(target.export, ((), ()))
        if params or results not in ((), ("i32",)):  # extism would not even say it exists
            raise SignatureError(
                f"plugin function {target.export!r} is ({', '.join(params)}) -> "
                f"({', '.join(results)}); extism calls a function of () -> (i32) or () -> ()"
            )
        if not plugin.function_exists(target.export):
            names = ", ".join(sorted(functions)) or "none that wasmtime-py could list"
            raise SignatureError(f"the plugin has no function {target.export!r} (functions: "
                                 f"{names})")  # fmt: skip

    def use_mode(self, mode: Mode) -> None:
        from gvlbench.binding import extism_abi

        extism_abi.point_sdk(mode)

    def count_calls(self) -> Callable[[], int] | None:
        if "extism" not in sys.modules:
            return None
        from gvlbench.binding import extism_abi

        return extism_abi.count_sdk_calls()

    def instances(
        self, target: Any, mode: Mode, call_path: str, n: int, contexts: Sequence[Any] | None
    ) -> list[Instance]:
        from gvlbench.binding import extism_abi

        if call_path != "stock":
            raise OptionError(f"--call-path {call_path}: {_SDK_ONLY} (stock) only")
        extism_abi.point_sdk(mode)
        sdk = extism_abi.sdk()
        compiled = sdk.CompiledPlugin(Path(target.wasm_path).read_bytes(), wasi=False,
                                      functions=[])  # fmt: skip
        return [PluginInstance(sdk.Plugin(compiled), target, sdk.Error) for _ in range(n)]


def _functions(wasm_path: str) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """The module's exported functions and their types, read by wasmtime-py (gvlbench's own
    engine, in the harness): extism can say whether a function exists, not its type. Empty
    when wasmtime-py cannot read the module (extism, which loaded it, is the judge)."""
    import wasmtime

    try:
        module = wasmtime.Module(wasmtime.Engine(), Path(wasm_path).read_bytes())
    except wasmtime.WasmtimeError:
        return {}
    return {e.name: (tuple(str(p) for p in e.type.params), tuple(str(r) for r in e.type.results))
            for e in module.exports if isinstance(e.type, wasmtime.FuncType)}  # fmt: skip


DRIVER = Driver()
