"""Without a C compiler (and no library built) the native guard is unavailable, and says so in
one line: asked for by name it is an error of its own exit code; in the guard-cost table its
cells say why while the python guard is still measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from gvlbench import native
from gvlbench.errors import EXIT_UNAVAILABLE


@pytest.fixture
def no_compiler(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(native, "LIBRARY", tmp_path / "libgvlguard.so")
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))


def test_no_compiler_and_no_library_is_unavailable(no_compiler: None) -> None:
    assert native.compiler() is None
    assert native.unavailable_reason() == "native guard unavailable: no C compiler"
    assert native.main() == 0  # `make native` notes it and succeeds


def test_a_stale_library_is_rebuilt_when_a_compiler_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    if native.compiler() is None:
        pytest.skip(native.UNAVAILABLE_NO_CC)
    monkeypatch.setattr(native, "LIBRARY", tmp_path / "libgvlguard.so")
    assert native.is_stale()
    assert native.unavailable_reason() is None
    assert native.LIBRARY.exists() and not native.is_stale()


def test_asking_for_the_native_guard_without_it_is_one_line_and_exit_4(
    no_compiler: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from gvlbench.cli import main

    with pytest.raises(SystemExit) as info:
        main(["race", "--guard", "native", "--trials", "1", "--duration", "0.1"])
    assert info.value.code == EXIT_UNAVAILABLE == 4
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("gvlbench: error:")
    assert errors[0].endswith("native guard unavailable: no C compiler")


def test_guard_cost_without_it_measures_the_python_guard_and_says_why(no_compiler: None) -> None:
    from gvlbench.harness.guard_cost import GuardCostExperiment
    from gvlbench.protocol import CallPath, Mode

    jobs = GuardCostExperiment((CallPath.LEAN,), (Mode.HELD,), rounds=2).plan()
    assert jobs and all(j.task.guards == ("python",) for j in jobs)
    why = native.UNAVAILABLE_NO_CC
    assert all(j.context["unavailable"] == {"native": why, "affinity": why, "mutex": why}
               for j in jobs)  # fmt: skip
    # the accessors' memory copy is C: those rows go; every other entry point is priced
    entries = {j.task.entry for j in jobs}
    assert "memory.read" not in entries and {"call", "memory.size", "fuel.set"} <= entries
