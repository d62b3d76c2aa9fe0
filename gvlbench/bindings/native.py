"""A compiled extension with an engine of its own: the door gvlbench can watch but not hold.

Some packages ship a PyO3 (or C) extension that links its own build of wasmtime, or another
engine, and calls it from inside compiled code: numcodecs-wasm's codecs are one. gvlbench has
no handle on those calls, so it can neither hold the GIL through them nor put a guard or a
patch on their Store: those rows are `N/A`, with the reasons below, never measured rows that
changed nothing. What it can do is measure: whether the statement lets a sibling thread run
(its progress), how threads scale, and whether a shared object gives wrong results. The
engine and its version come from the library itself (engines.py), found in the process that
ran the statement, so the results name the engine the package really runs.

This binding is never chosen by name: the code probe picks it when a statement made no call
through a binding gvlbench drives, and a loaded library no such binding claims runs Wasm.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gvlbench.bindings.base import Binding, Capabilities, Feature, Form, Instance, Watch
from gvlbench.errors import OptionError
from gvlbench.modes import Mode

_INSIDE = "the extension calls its engine from inside its own compiled code"
_NO_HANDLE = f"{_INSIDE}: gvlbench has no handle on those calls"

CAPABILITIES = Capabilities(
    forms=frozenset({Form.CODE}),
    modes={
        Mode.AS_SHIPPED: f"{_INSIDE}; whether it releases the GIL is measured (a sibling "
        "thread's progress), not assumed",
        Mode.FREE_THREADED: "a free-threaded CPython: no lock to keep or drop",
    },
    features=frozenset({Feature.SPEEDUP, Feature.PROGRESS, Feature.RACE, Feature.PROFILE}),
    lacks={
        Feature.TIMELINE: "the timeline times wasmtime-py's calls; a compiled extension calls "
        "its own engine from inside, where it cannot",
        Mode.HELD: f"{_NO_HANDLE} to keep the GIL through them",
        Mode.RELEASED: f"{_NO_HANDLE}; its lock as shipped is the as-shipped row",
        Feature.PATCHES: f"gvlbench's patches change wasmtime-py; {_INSIDE}",
        Feature.GUARD: f"the engine's Store is inside the extension: {_NO_HANDLE}",
        Feature.NATIVE_GUARD: f"the engine's Store is inside the extension: {_NO_HANDLE}",
        Feature.GUARD_COST: f"the engine's Store is inside the extension: {_NO_HANDLE}",
        Feature.PHASES: f"compiling and instantiating happen inside the extension: {_INSIDE}",
        Feature.ENTRY_RACE: "entry races race wasmtime-py's own bindings",
        Feature.VERIFY: "the checks call wasmtime-py's API",
        Feature.BINDING_CHECKS: "the checks call wasmtime-py's API",
        Feature.POOL: "--mode processes measures scenarios, not code",
    },
)


class Native(Binding):
    name = "native"
    summary = "a compiled extension that embeds an engine of its own (found, not driven)"
    capabilities = CAPABILITIES
    driver = __name__
    finds_unclaimed = True  # an engine in a library no binding gvlbench drives claims
    # numcodecs-wasm, the example: a codec class per Wasm component (create_codec_class), each
    # codec its own wasmtime Store, entered by the Rust methods encode, decode, get_config
    watched = (Watch("numcodecs_wasm:create_codec_class", ("encode", "decode", "get_config"),
                     "a numcodecs-wasm codec (its own wasmtime Store, inside the extension)",
                     classes_from=True,
                     serialised="each codec keeps its Store behind a Rust mutex: threads "
                     "that share one queue for it, none ever inside with another",
                     library=r"/numcodecs_wasm/_wasm\.[^/]*\.(so|dylib|pyd)$"),)  # fmt: skip


BINDING = Native()


class Driver:
    """Code targets only: the statement runs as the package wrote it; there is nothing to
    point at a mode and no module of gvlbench's to instantiate."""

    def validate(self, target: Any) -> None:
        raise OptionError(f"the native binding runs --stmt code only: {_INSIDE}")

    def use_mode(self, mode: Mode) -> None:
        return None  # as shipped: nothing of gvlbench's sits on the call

    def count_calls(self) -> None:
        return None  # found by its engine, never by its calls

    def instances(
        self, target: Any, mode: Mode, call_path: str, n: int, contexts: Sequence[Any] | None
    ) -> list[Instance]:
        raise OptionError(f"the native binding runs --stmt code only: {_INSIDE}")


DRIVER = Driver()
