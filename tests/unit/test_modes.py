"""The lock modes, defined once (gvlbench/modes.py), and where each interpreter uses them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gvlbench.errors import OptionError
from gvlbench.harness.interpreter import current, modes_under
from gvlbench.modes import GIL_MODES, Mode, for_interpreter, of_row, requested
from gvlbench.report.gate import TIMING_RULES, _parallel
from tests.conftest import REPO


def test_a_free_threaded_build_has_one_mode_whatever_is_asked() -> None:
    assert for_interpreter(GIL_MODES, free_threaded=True) == (Mode.FREE_THREADED,)
    assert for_interpreter((Mode.RELEASED,), free_threaded=True) == (Mode.FREE_THREADED,)
    assert for_interpreter((Mode.HELD,), free_threaded=True) == ()  # nothing to hold


def test_a_gil_build_keeps_the_modes_asked_for_and_never_free_threaded() -> None:
    assert for_interpreter(GIL_MODES, free_threaded=False) == GIL_MODES
    assert for_interpreter((Mode.FREE_THREADED, Mode.HELD), free_threaded=False) == (Mode.HELD,)
    assert requested("both") == GIL_MODES and requested("held") == (Mode.HELD,)


def test_what_each_mode_means() -> None:
    assert [m.parallel for m in Mode] == [False, True, True, True]
    assert [m.loader for m in Mode] == [Mode.HELD, Mode.RELEASED, Mode.RELEASED, Mode.RELEASED]
    assert [m.has_gil for m in Mode] == [True, True, True, False]
    assert Mode.AS_SHIPPED.lock == "the lock as the binding leaves it"


def test_rows_read_free_threaded_from_old_files_too() -> None:
    assert of_row({"mode": "released", "gil": "disabled"}) == "free-threaded"
    assert of_row({"mode": "held", "gil": "enabled"}) == "held"
    assert of_row({"mode": "both"}) == "both"  # a failure's key may name no single mode


@pytest.mark.skipif(current().free_threaded, reason="the harness itself runs free-threaded")
def test_held_alone_is_refused_only_where_there_is_no_gil() -> None:
    assert modes_under((Mode.HELD,), None) == (Mode.HELD,)
    free = type("FakeRuntime", (), {"free_threaded": True, "label": "python3.13.5t"})()
    with pytest.raises(OptionError, match="no GIL to hold"):
        modes_under((Mode.HELD,), free)  # type: ignore[arg-type]


def test_the_worker_refuses_a_mode_its_interpreter_lacks() -> None:
    """A task in a mode the child's Python does not have is an error, never a row measured
    under a false name (free-threaded asked of a GIL build, here)."""
    mode = "held" if not current().free_threaded else "free-threaded"
    wrong = "free-threaded" if mode == "held" else "held"
    task = {"protocol": 1, "kind": "check", "check": "results", "mode": wrong, "call_path": "stock",
            "threads": 1, "repeat": 1}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "gvlbench.worker"], input=json.dumps(task),
                          capture_output=True, text=True, timeout=60, cwd=REPO)  # fmt: skip
    answer = json.loads(proc.stdout)
    assert answer["ok"] is False
    assert f"mode {wrong} asked of Python" in answer["error"]["message"]


def test_free_threaded_rows_are_judged_by_the_released_rules_under_their_own_name() -> None:
    assert _parallel("released speeds up", "free-threaded") == "free-threaded speeds up"
    assert _parallel("released speeds up", "released") == "released speeds up"
    assert "free-threaded overlaps" in TIMING_RULES  # re-measured like released on a failure
