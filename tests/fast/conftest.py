"""The fast tier (`make check`, `pytest -m fast`): the planner, the capability rules, the loop,
the recording into results and the tables, in-process and in seconds.

Nothing here starts a child or calls an engine: the runtime is the fake binding's
(`FakeRuntime`, capabilities as each test declares them with `fake.declared`), and every job is
answered by the fake executor (harness/fake.py) from its task, through the real answer reader.
Every test under tests/fast/ is marked `fast`, and so are a few pure modules of tests/unit/
(tests/conftest.py lists them).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from rich.console import Console, RenderableType

from gvlbench.bindings import fake
from gvlbench.bindings.base import Capabilities
from gvlbench.results import Results


@pytest.fixture
def runtime() -> fake.FakeRuntime:
    return fake.FakeRuntime()


@pytest.fixture
def declare() -> Iterator[Callable[[Capabilities], fake.Fake]]:
    """Declare the fake binding's capabilities for the rest of the test (undone after it)."""
    with ExitStack() as stack:
        yield lambda capabilities: stack.enter_context(fake.declared(capabilities))
    assert fake.BINDING.capabilities is fake.FULL


def text(*renderables: RenderableType | str) -> str:
    """What a terminal 200 columns wide shows for them, without colour."""
    console = Console(file=io.StringIO(), width=200, color_system=None)
    for r in renderables:
        console.print(r, soft_wrap=isinstance(r, str), highlight=False)
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> Callable[[Results], str]:
    """Every table `gvlbench show` prints for a results document, as text."""
    from gvlbench.cli import cost as cli_cost
    from gvlbench.cli import run as cli_run

    def show(res: Results) -> str:
        console = Console(file=io.StringIO(), width=200, color_system=None)
        monkeypatch.setattr(cli_run, "out", console)
        monkeypatch.setattr(cli_cost, "out", console)
        cli_run.show_results(res)
        return console.file.getvalue()  # type: ignore[attr-defined]

    return show
