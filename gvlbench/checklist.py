"""The correctness checks `gvlbench verify` knows, and the Wasm modules they instantiate.

Both sides need this: the harness validates `--check` names and hands a worker that cannot
compile WAT (Ruby) the checks' modules compiled; the Python worker (worker/checks.py) runs the
checks. The modules are data, in wat/checks/, so both workers run the very same Wasm.
"""

from __future__ import annotations

import functools

from gvlbench.scenario import data_dirs

# In the order verify runs and reports them; worker/checks.py has one function per name.
CHECKS = (
    "results",
    "lock-released",
    "callback",
    "callbacks-concurrent",
    "exception",
    "wrong-arity",
    "trap",
    "exceptions-concurrent",
    "exception-handoff",
    "base-exception",
    "interrupt",
    "limits",
    "compile-concurrent",
    "stores-concurrent",
    "linkers-concurrent",
    "shared-linker",
    "func-types-concurrent",
    "exports-concurrent",
    "component-results",
    "component-exceptions",
)

# Checks of wasmtime-py's own Python code (its module-global slabs of callbacks and Store
# data, its wrappers of a shared Engine, Module and Linker, its lazily built exports), raced by
# many threads: the Ruby worker has no such code, so a Ruby runtime skips them.
# exception-handoff is the hand-off of a callback's exception in wasmtime-py's _func.py.
# The checks of wasmtime-py's component model (worker/component_checks.py): Python-only too,
# since the Ruby worker calls core modules only.
COMPONENT_CHECKS = frozenset({"component-results", "component-exceptions"})
PYTHON_ONLY = frozenset({"exception-handoff", "compile-concurrent", "stores-concurrent",
                         "linkers-concurrent", "shared-linker", "func-types-concurrent",
                         "exports-concurrent", *COMPONENT_CHECKS})  # fmt: skip

# What a worker that cannot compile WAT gets compiled, by the name its checks use.
_SHARED_MODULES = ("arith", "mark", "callback", "callbacks", "raising", "trap", "spin", "grow",
                   "arity_1", "arity_2")  # fmt: skip


@functools.cache
def check_wat(name: str) -> str:
    """The WAT text of one check module (wat/checks/NAME.wat)."""
    return (data_dirs()[1] / "checks" / f"{name}.wat").read_text()


def modules() -> dict[str, str]:
    """Every module the checks instantiate, by upper-case name, as WAT text."""
    return {name.upper(): check_wat(name) for name in _SHARED_MODULES}
