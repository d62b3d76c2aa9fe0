"""Which wasmtime-py releases gvlbench runs on, and how it says what one lacks: the version
policy in internals, and the interpreter probe's one line.

The probe's tests ask a real interpreter: a fresh venv with no packages, whose path holds the
harness's own wasmtime-py (its files, linked) and no pyperf. The tested range is narrowed to
leave that release out, which is how a release outside the range looks to the probe.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import wasmtime

from gvlbench.binding import internals
from gvlbench.errors import InterpreterError
from gvlbench.harness import interpreter


@pytest.fixture(scope="module")
def bare_with_wasmtime(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(a venv's python with nothing installed, a directory holding this wasmtime-py)."""
    root = tmp_path_factory.mktemp("bare")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")],
                   check=True, timeout=120)  # fmt: skip
    site = root / "site"
    site.mkdir()
    package = Path(wasmtime.__file__).parent
    (site / "wasmtime").symlink_to(package)
    (info,) = package.parent.glob(f"wasmtime-{internals.VERSION}.dist-info")
    (site / info.name).symlink_to(info)
    return str(root / "venv" / "bin" / "python"), site


def _outside(monkeypatch: pytest.MonkeyPatch) -> str:
    """Narrow the tested range to the major after the harness's own; returns that major."""
    other = internals.major(internals.VERSION) + 1
    monkeypatch.setattr(internals, "TESTED", (f"{other}.0.0",))
    return str(other)


def test_the_probe_names_every_missing_piece_in_one_line(
    bare_with_wasmtime: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    python, site = bare_with_wasmtime
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.delenv(internals.UNTESTED_ENV, raising=False)
    other, found = _outside(monkeypatch), internals.VERSION
    with pytest.raises(InterpreterError) as raised:
        interpreter.probe(python)
    version = interpreter.current().version
    assert str(raised.value) == (
        f"--python {python} (Python {version}) lacks wasmtime {other}.x (it has {found}), "
        f"pyperf; add with: {python} -m pip install 'wasmtime>={other},<{int(other) + 1}' "
        f"'pyperf>=2.9,<3' (or use a venv made from it; or set GVLBENCH_UNTESTED_WASMTIME=1 "
        f"to try wasmtime {found})"
    )


def test_the_probe_lets_an_untested_release_through_when_asked(
    bare_with_wasmtime: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    python, site = bare_with_wasmtime
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv(internals.UNTESTED_ENV, "1")
    _outside(monkeypatch)
    with pytest.raises(InterpreterError, match=r"lacks pyperf; add with: .* 'pyperf>=2.9,<3' "
                                               r"\(or use a venv made from it\)$"):  # fmt: skip
        interpreter.probe(python)


def test_an_untested_major_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(internals.UNTESTED_ENV, raising=False)
    assert internals.check_version("46.0.0") == "46.0.0"  # any release of a tested major
    with pytest.raises(internals.UntestedWasmtimeError) as raised:
        internals.check_version("45.0.0")
    assert str(raised.value) == (
        "wasmtime 45.0.0 is installed; gvlbench reaches into wasmtime-py's private API and is "
        "tested with 46.x to 51.x only (pip install 'wasmtime>=46,<52', or set "
        "GVLBENCH_UNTESTED_WASMTIME=1 to try)"
    )
    monkeypatch.setenv(internals.UNTESTED_ENV, "1")
    assert internals.check_version("45.0.0") == "45.0.0"


def test_a_feature_names_what_the_release_lacks() -> None:
    """Against the installed wasmtime-py: what it has passes (an instance attribute declared
    on its class included); a name it does not have is one line naming the feature."""
    assert all(not internals.lacking(feature) for feature in internals.NEEDS)
    missing = internals.lacking("profile", "Func._func", "Func._func.nothing")
    assert missing == ["Func._func.nothing"]
    with pytest.raises(internals.WasmtimeLacksError) as raised:
        internals.require("the thread-local-exceptions patch", "_func.no_such_trampoline")
    assert str(raised.value) == (
        f"wasmtime {internals.VERSION} has no _func.no_such_trampoline: the "
        f"thread-local-exceptions patch needs it (gvlbench is tested with "
        f"{internals.tested_range()})"
    )
