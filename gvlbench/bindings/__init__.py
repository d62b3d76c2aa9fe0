"""Every door into Wasm gvlbench knows, by name: the one place that lists the bindings.

A binding is one module here (base.py says what it declares). The planner, the tables and
trace ask a binding what it can do; none of them names one. Adding a binding is one module,
one line in `_MODULES`, and its tests and docs (docs/extending.md; a test keeps that list
true). Importing this package, or any binding's declaration, loads no engine.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from gvlbench.bindings.base import Binding, Capabilities, Driver, Engine, Feature, Form, Watch
from gvlbench.errors import OptionError

__all__ = ["Binding", "Capabilities", "Engine", "Feature", "Form", "Watch", "all_bindings",
           "for_form", "get"]  # fmt: skip

# name -> module; in the order a runtime's bindings are tried for a form
_MODULES = {
    "wasmtime-py": "gvlbench.bindings.wasmtime_py",
    "component": "gvlbench.bindings.component",
    "extism": "gvlbench.bindings.extism",
    "native": "gvlbench.bindings.native",
    "ruby-ffi": "gvlbench.bindings.ruby_ffi",
    "fake": "gvlbench.bindings.fake",  # tests only: its own language, never --runtime
}
DEFAULT = "wasmtime-py"


@cache
def get(name: str) -> Binding:
    """The binding called `name`; OptionError (one line) for a name no module declares."""
    module = _MODULES.get(name)
    if module is None:
        raise OptionError(f"unknown binding {name!r} (known: {', '.join(_MODULES)})")
    return importlib.import_module(module).BINDING


def all_bindings() -> list[Binding]:
    return [get(name) for name in _MODULES]


def names() -> tuple[str, ...]:
    return tuple(_MODULES)


def for_language(language: str) -> Binding:
    """The binding whose worker speaks `language` (`--runtime NAME`)."""
    for binding in all_bindings():
        if binding.runtime == language:
            return binding
    raise OptionError(f"no binding runs under {language!r}")


def for_form(runtime: str, form: Form, label: str = "") -> Binding:
    """The binding a `runtime` ("python" or "ruby") runs a target of `form` with: the first
    that can. OptionError naming the runtime when none of its bindings can."""
    for binding in all_bindings():
        if binding.runtime == runtime and binding.runs(form):
            return binding
    theirs = [b for b in all_bindings() if b.runtime == runtime]
    if len(theirs) == 1:  # its one binding's own reason
        raise OptionError(theirs[0].why_not(form) or "")
    raise OptionError(f"{label or runtime} has no binding that runs a {form} target (its "
                      f"bindings: {', '.join(b.name for b in theirs)})")  # fmt: skip


def driver(binding: Binding) -> Driver:
    """A binding's child-side half (`DRIVER` of its `driver` module): measuring children only,
    since it loads the engine."""
    if not binding.driver:
        raise OptionError(f"the {binding.name} binding has no Python driver (its worker is "
                          f"{binding.runtime})")  # fmt: skip
    return importlib.import_module(binding.driver).DRIVER


def driver_for(target: Any) -> Driver:
    """The driver a Python worker calls `target` through: a code target's own binding (found
    by the harness's probe; wasmtime-py when none was named), else the first Python binding
    that runs the target's form."""
    name = getattr(target, "binding", "")
    if name:
        return driver(get(name))
    return driver(for_form("python", Form(getattr(target, "form", Form.MODULE))))


def for_code(calls: Mapping[str, int], found: Sequence[Engine]) -> tuple[Binding, Engine | None]:
    """The binding a probed statement used and the engine it ran, from what the code probe
    saw: each Python binding's count of the statement's calls into Wasm, and the engines in
    loaded libraries (engines.py). The first binding (in registry order) whose calls it made;
    else, when a loaded library no binding claims carries an engine, the binding that stands
    for such libraries (`finds_unclaimed`, the native one); else the default (code that makes
    no Wasm call at all runs as wasmtime-py's)."""
    everyone = all_bindings()
    for binding in everyone:
        if calls.get(binding.name):
            return binding, _claimed(binding, found)
    unclaimed = [e for e in found if not any(b.claims(e.library) for b in everyone)]
    stand_in = next((b for b in everyone if b.finds_unclaimed), None)
    if unclaimed and stand_in is not None:
        return stand_in, unclaimed[0]
    default = get(DEFAULT)
    return default, _claimed(default, found)


def _claimed(binding: Binding, found: Sequence[Engine]) -> Engine | None:
    return next((e for e in found if binding.claims(e.library)), None)


def languages() -> tuple[str, ...]:
    """The languages whose workers run bindings: python first."""
    return tuple(dict.fromkeys(["python", *(b.runtime for b in all_bindings()
                                            if not b.for_tests)]))  # fmt: skip


def lock_name(language: str) -> str:
    """The interpreter lock of a runtime's language, as tables name it (GIL, GVL)."""
    for binding in all_bindings():
        if binding.runtime == language:
            return binding.lock
    return "GIL"
