"""Whatever a user hands gvlbench, the library either accepts it or raises a UserError (one
line and exit 2 in the CLI); never another exception (exit 3, a traceback). In-process, at the
entry points the CLI calls: scenario.find/load_spec (and the compile-and-validate step of
`run`), results.load, gate.load_config (and the gate's plan).

tests/e2e/test_properties.py runs a few of the same inputs through the real CLI.
"""

from __future__ import annotations

import math
import shutil
import tomllib
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from gvlbench import results, scenario
from gvlbench.errors import UserError
from gvlbench.report import gate
from tests.conftest import WAT
from tests.strategies import (
    gate_docs,
    loadable_results_docs,
    results_docs,
    results_text,
    spec_docs,
    to_toml,
    toml_values,
)

SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec's folder: the real WAT sources beside it, and the ways a named source goes
    wrong (not UTF-8, a directory, a symlink loop)."""
    path = tmp_path_factory.mktemp("specs")
    for source in WAT.glob("*.wat"):
        shutil.copy(source, path / source.name)
    (path / "binary.wat").write_bytes(b"\xff\x00\x01 (module)")
    (path / "loop").symlink_to("loop")
    return path


def _accepts_or_user_error(fn: Any, *args: Any) -> Any:
    """fn's value, or None when it raised a UserError; any other exception fails the test."""
    try:
        return fn(*args)
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), repr(exc)  # one line to print
        return None


# -- the writer the properties rely on ----------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


@SETTINGS
@given(st.dictionaries(st.text(max_size=8), toml_values, max_size=4))
def test_the_toml_writer_writes_what_tomllib_reads_back(doc: dict[str, Any]) -> None:
    """Otherwise the properties below would test less than they say."""
    assert _same(tomllib.loads(to_toml(doc)), doc)


# -- scenario specs ----------------------------------------------------------------------------


def _load_and_prepare(path: Path) -> None:
    """What `gvlbench run SPEC` does before any child: load, then compile and validate."""
    from gvlbench.harness.target import prepare_target

    found = _accepts_or_user_error(scenario.load_spec, path)
    event("spec loaded" if found else "spec refused")
    if found is None:
        return
    assert isinstance(found, scenario.Scenario) and found.wat_path.is_file()
    assert all(isinstance(a, int | float) and not isinstance(a, bool) for a in found.args)
    if found.work_arg is not None:
        assert found.with_work(7).args[found.work_arg] == 7
    event("target valid" if _accepts_or_user_error(prepare_target, found) else "target refused")


@SETTINGS
@given(st.binary(max_size=300))
@example(b"\xff" * 10)
@example('wat = "arith.wat"\nexport = "nop"\n'.encode("utf-16"))
def test_any_bytes_as_a_spec(folder: Path, raw: bytes) -> None:
    path = folder / "case.toml"
    path.write_bytes(raw)
    _load_and_prepare(path)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_as_a_spec(folder: Path, text: str) -> None:
    path = folder / "case.toml"
    path.write_text(text)
    _load_and_prepare(path)


@settings(SETTINGS, max_examples=150)
@given(spec_docs)
@example({"wat": "x" * 300, "export": "f"})
@example({"wat": "a\0b", "export": "f"})
@example({"wat": "loop", "export": "f"})
@example({"wat": "binary.wat", "export": "f"})
@example({"wat": "arith.wat", "export": "add_i64", "args": [2, 3], "work_arg": True})
def test_any_spec_document(folder: Path, doc: dict[str, Any]) -> None:
    path = folder / "case.toml"
    path.write_text(to_toml(doc))
    _load_and_prepare(path)


@SETTINGS
@given(st.text(max_size=300))
@example("x" * 300)
@example("a\0b")
@example("spin")
def test_any_scenario_name(name: str) -> None:
    _accepts_or_user_error(scenario.find, name)


# -- results files -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("results") / "results.json"


def _load(path: Path) -> results.Results | None:
    loaded = _accepts_or_user_error(results.load, path)
    event("results loaded" if loaded else "results refused")
    if loaded is not None:  # what load accepts is a document every section of which is rows
        for name in ("benchmarks", "progress", "failures", "race", "guard_cost", "verify", "pool"):
            assert all(isinstance(row, dict) for row in getattr(loaded, name))
    return loaded


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_as_results(results_path: Path, raw: bytes) -> None:
    results_path.write_bytes(raw)
    _load(results_path)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_as_results(results_path: Path, text: str) -> None:
    results_path.write_text(text)
    _load(results_path)


@settings(SETTINGS, max_examples=150)
@given(results_docs)
def test_any_results_document(results_path: Path, doc: Any) -> None:
    results_path.write_text(results_text(doc))
    _load(results_path)


def _show_and_judge(path: Path) -> Iterator[tuple[str, int]]:
    """`gvlbench show PATH` and `gvlbench gate --current PATH --baseline PATH`, in-process
    through the real click commands: each command and its exit code."""
    from click.testing import CliRunner

    from gvlbench.cli import main

    runner = CliRunner()
    config = Path(__file__).resolve().parents[2] / "gate-ci.toml"
    for args in (["show", str(path)], ["show", "--json", str(path)],
                 ["gate", "--config", str(config), "--current", str(path),
                  "--baseline", str(path)]):  # fmt: skip
        yield " ".join(args[:2]), runner.invoke(main, args).exit_code


@settings(SETTINGS, max_examples=60, derandomize=True, phases=[Phase.generate])  # no shrinking
@given(loadable_results_docs)
def test_every_document_results_load_accepts_can_be_shown_and_judged(
    results_path: Path, doc: Any
) -> None:
    """A document is refused on load with one UserError, or shown and judged without one."""
    results_path.write_text(results_text(doc))
    if _load(results_path) is None:
        return
    codes = dict(_show_and_judge(results_path))
    assert all(code in (0, 1, 2) for code in codes.values()), codes


# -- gate configs ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gate") / "gate.toml"


def _load_config(path: Path) -> gate.GateConfig | None:
    cfg = _accepts_or_user_error(gate.load_config, path)
    event("config loaded" if cfg else "config refused")
    if cfg is not None:  # every field has its default's type: the gate reads no surprises
        for f in fields(gate.GateConfig):
            value, default = getattr(cfg, f.name), getattr(gate.GateConfig(), f.name)
            assert type(value) is type(default), (f.name, value)
            if isinstance(value, tuple):
                assert all(isinstance(v, str) for v in value)
    return cfg


@SETTINGS
@given(st.binary(max_size=300))
@example(b"\xff[measure]\n")
def test_any_bytes_as_a_gate_config(config_path: Path, raw: bytes) -> None:
    config_path.write_bytes(raw)
    _load_config(config_path)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_as_a_gate_config(config_path: Path, text: str) -> None:
    config_path.write_text(text)
    _load_config(config_path)


@settings(SETTINGS, max_examples=100)
@given(gate_docs)
@example({"measure": 3})
@example({"measure": {"preset": "bogus"}})
@example({"tolerance": [{"overlap_drop": 0.1}]})
def test_any_gate_config_document_loads_and_plans(config_path: Path, doc: dict) -> None:
    """Loaded, and then planned as `gvlbench gate` would before its first child: a config
    that loads must not fail later with anything but a UserError."""
    from gvlbench.harness.gate import experiments

    config_path.write_text(to_toml(doc))
    cfg = _load_config(config_path)
    if cfg is None or max(cfg.threads, cfg.race_trials, cfg.verify_repeat) > 4:
        return  # planning hundreds of jobs proves nothing more
    cfg = replace(cfg, runtimes=("python",))  # probing Ruby is the interpreter tests' job
    planned = _accepts_or_user_error(lambda: [e.plan() for e in experiments(cfg, cfg.scenarios,
                                                                            True)])  # fmt: skip
    event("planned" if planned is not None else "plan refused")
    if planned is not None:
        assert all(jobs for jobs in planned)


@pytest.mark.parametrize("preset", ["fast", "default", "rigorous", "bogus"])
def test_a_preset_the_gate_accepts_is_one_pyperf_options_knows(config_path, preset) -> None:
    from gvlbench.protocol import PyperfOptions

    config_path.write_text(f'[measure]\npreset = "{preset}"\n')
    cfg = _accepts_or_user_error(gate.load_config, config_path)
    if preset == "bogus":
        assert cfg is None
    else:
        assert cfg.preset == preset and PyperfOptions.preset(cfg.preset)
