"""A binding that runs nothing, for fast tests: capabilities as each test declares them.

hyperfine tests its scheduler with a `MockExecutor` that answers without running a command;
gvlbench's fast tier (tests/fast/, `make check`) does the same for the planner, the
capability rules (what is `N/A`, and why), the loop, the recording into results and the
tables. This binding is what such a test asks the planner about: it declares what a test says
it can do (`declared`), and the fake executor (harness/fake.py) answers its tasks in-process,
computed from each task, with no child and no engine.

It is registered like every binding (so the planner asks its capabilities as it asks anyone's)
but never chosen for a real runtime: its worker's language is `fake`, which no interpreter
speaks, it is never offered to `--runtime` (`for_tests`), and its runtime (`FakeRuntime`) is
made by a test, never found (`find_runtime` refuses).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from gvlbench.bindings.base import Binding, Capabilities, Feature, Form
from gvlbench.errors import InterpreterError, OptionError
from gvlbench.modes import Mode

LANGUAGE = "fake"

# Everything a binding can declare: a test takes away what it wants the binding to lack
FULL = Capabilities(
    forms=frozenset(Form),
    modes={
        Mode.HELD: "held by the fake executor's lock model: threads take turns",
        Mode.RELEASED: "released in the fake executor's lock model: threads run at once",
        Mode.AS_SHIPPED: "as shipped, in the fake executor's lock model: threads run at once",
        Mode.FREE_THREADED: "no lock in the fake executor's lock model: threads run at once",
    },
    features=frozenset(Feature),
    call_paths=("stock", "lean", "raw", "floor"),
)
_DECLARED: list[Capabilities] = [FULL]


def lacking(*what: Mode | Feature | Form | str, base: Capabilities = FULL) -> Capabilities:
    """`base` without the modes, features, forms and call paths named, each with the reason
    a table prints for it ("the fake binding was declared without held")."""
    gone = {str(w) for w in what}
    return Capabilities(
        forms=frozenset(f for f in base.forms if f not in gone),
        modes={m: how for m, how in base.modes.items() if m not in gone},
        features=frozenset(f for f in base.features if f not in gone),
        call_paths=tuple(p for p in base.call_paths if p not in gone) or ("stock",),
        lacks={**base.lacks, **{w: f"the fake binding was declared without {w}" for w in gone}},
    )


@contextmanager
def declared(capabilities: Capabilities = FULL) -> Iterator[Fake]:
    """The fake binding with `capabilities` for the duration of a `with` block (a test)."""
    _DECLARED.append(capabilities)
    try:
        yield BINDING
    finally:
        _DECLARED.pop()


class Fake(Binding):
    name = "fake"
    summary = "a stand-in for fast tests: capabilities as a test declares them, runs nothing"
    runtime = LANGUAGE
    for_tests = True

    @property  # type: ignore[override]  (declared per test, not per class)
    def capabilities(self) -> Capabilities:
        return _DECLARED[-1]

    def find_runtime(self) -> Any:
        raise InterpreterError("the fake binding's runtime is made by a test (FakeRuntime), "
                               "never found on this machine")  # fmt: skip


BINDING = Fake()


@dataclass(frozen=True)
class FakeRuntime:
    """A runtime whose children the fake executor plays: `binding_of` gives it the fake
    binding. `gil="disabled"` makes it free-threaded."""

    language: ClassVar[str] = LANGUAGE
    version: str = "1.0"
    gil: str = "enabled"
    default = False

    @property
    def free_threaded(self) -> bool:
        return self.gil == "disabled"

    @property
    def label(self) -> str:
        return f"fake{self.version}{'t' if self.free_threaded else ''}"

    @property
    def name_suffix(self) -> str:
        return f"/fake={self.label.removeprefix('fake')}"

    @property
    def executable(self) -> str:
        return "(fake)"

    def describe(self) -> str:
        return f"the fake runtime {self.version} (no process: the fake executor answers)"

    def argv(self) -> list[str]:
        raise OptionError("the fake runtime has no worker: run its jobs with the fake executor")

    def env(self) -> dict[str, str] | None:
        return None

    def metadata(self) -> dict[str, Any]:
        return {"runtime": self.language, "runtime_version": self.version,
                "interpreter": self.label, "lock": "none" if self.free_threaded else "GIL",
                "gil": self.gil}  # fmt: skip
