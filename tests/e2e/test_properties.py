"""A few of tests/unit/test_properties.py's inputs through the real CLI, in child processes:
whatever the file, `gvlbench` exits 0, 1 or 2, never 3, never with a traceback, and an error
is exactly one line on stderr."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, assume, event, given, settings
from hypothesis import strategies as st

from gvlbench import results
from gvlbench.errors import UserError
from tests.conftest import REPO, WAT, Cli, gvlbench
from tests.strategies import (
    gate_docs,
    loadable_results_docs,
    results_docs,
    results_text,
    spec_docs,
    to_toml,
)

FEW = settings(max_examples=10, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
BASELINE = str(REPO / "baselines" / "ci.json")
CI_GATE = str(REPO / "gate-ci.toml")


def _no_internal_error(cli: Cli) -> None:
    assert cli.returncode in (0, 1, 2), cli.stderr
    assert "Traceback" not in cli.stderr, cli.stderr
    if cli.returncode == 2:
        lines = [ln for ln in cli.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("gvlbench: error: "), cli.stderr


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inputs")
    shutil.copy(WAT / "arith.wat", path / "arith.wat")
    shutil.copy(WAT / "trap.wat", path / "trap.wat")
    (path / "binary.wat").write_bytes(b"\xff\x00\x01 (module)")
    (path / "loop").symlink_to("loop")
    return path


any_file = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(str.encode),
    results_docs.map(lambda d: results_text(d).encode()),
)


def _refused_file(folder: Path, raw: bytes) -> Path:
    """`raw` as a results file, when results.load refuses it (what it accepts is the next
    test's: the report layer's bug would fail these for the wrong reason)."""
    path = folder / "results.json"
    path.write_bytes(raw)
    try:
        results.load(path)
    except UserError:
        return path
    assume(False)
    raise AssertionError("unreachable")


@FEW
@given(any_file)
def test_show_any_file(folder: Path, raw: bytes) -> None:
    cli = gvlbench("show", str(_refused_file(folder, raw)))
    _no_internal_error(cli)
    assert cli.returncode == 2 and "bad results file" in cli.stderr


@FEW
@given(any_file)
def test_gate_judges_any_current_file(folder: Path, raw: bytes) -> None:
    cli = gvlbench("gate", "--config", CI_GATE, "--current", str(_refused_file(folder, raw)),
                   "--baseline", BASELINE)  # fmt: skip
    _no_internal_error(cli)
    assert cli.returncode == 2 and "bad results file" in cli.stderr


@settings(FEW, max_examples=5, derandomize=True, phases=[Phase.generate])
@given(loadable_results_docs)
def test_show_and_gate_any_loadable_results_file(folder: Path, doc: Any) -> None:
    path = folder / "loadable.json"
    path.write_text(results_text(doc))
    _no_internal_error(gvlbench("show", str(path)))
    _no_internal_error(gvlbench("gate", "--config", CI_GATE, "--current", str(path),
                                "--baseline", BASELINE))  # fmt: skip


@FEW
@given(st.one_of(st.binary(max_size=200), gate_docs.map(lambda d: to_toml(d).encode())))
def test_gate_reads_any_config(folder: Path, raw: bytes) -> None:
    config = folder / "gate.toml"
    config.write_bytes(raw)
    _no_internal_error(gvlbench("gate", "--config", str(config), "--current", BASELINE,
                                "--baseline", BASELINE))  # fmt: skip


def _cheap(doc: dict[str, Any]) -> dict[str, Any]:
    """The same spec on arith.wat when it names a source whose calls can run for long."""
    if doc.get("wat") in ("spin.wat", "mark.wat", "grow.wat", "callback.wat"):
        return {**doc, "wat": "arith.wat"}
    return doc


@settings(FEW, max_examples=8)
@given(st.one_of(st.binary(max_size=200), spec_docs.map(lambda d: to_toml(_cheap(d)).encode())))
def test_run_any_spec(folder: Path, raw: bytes) -> None:
    spec = folder / "case.toml"
    spec.write_bytes(raw)
    cli = gvlbench("run", str(spec), "--threads", "1", "--mode", "held", "--fast",
                   "--progress-repeats", "0", "--timeout", "30")  # fmt: skip
    event(f"exit {cli.returncode}")
    assert cli.returncode in (0, 1, 2), cli.stderr
    assert "Traceback" not in cli.stderr, cli.stderr
    if cli.returncode == 2:  # refused before anything ran
        errors = [ln for ln in cli.stderr.splitlines() if ln.startswith("gvlbench: error: ")]
        assert len(errors) == 1, cli.stderr
