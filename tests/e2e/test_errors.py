"""Bad input: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WAT, gvlbench

SPIN = f'wat = "{WAT}/spin.wat"\nexport = "spin"\n'


def _one_line_error(cli, *needles: str) -> None:
    assert cli.returncode == 2, (cli.stdout, cli.stderr)
    assert "Traceback" not in cli.stderr
    errors = [ln for ln in cli.stderr.splitlines() if ln.startswith("gvlbench: error:")]
    assert len(errors) == 1, cli.stderr
    for needle in needles:
        assert needle in errors[0]


@pytest.mark.parametrize(
    ("body", "wat", "needles"),
    [
        ('wat = "case.wat"\nexport = "f"\n', '(module (func (export "f") (result i32) i32.add))',
         ["malformed WAT", "case.wat:", "type mismatch"]),
        ('wat = "case.wat"\nexport = "f"\n', "(module (func", ["malformed WAT", "case.wat:1:"]),
        (SPIN.replace('"spin"\n', '"nope"\n') + "args = [1]\n", None,
         ["signature mismatch", "no export 'nope'", "exports: spin"]),
        (SPIN + "args = [1, 2]\n", None, ["takes 1 argument(s) (i64), the spec gives 2"]),
        (SPIN + "args = [1.5]\n", None, ["argument 0 must be an i64 integer, got 1.5"]),
        (SPIN + "args = []\n", None, ["takes 1 argument(s)"]),
        (SPIN + "args = [1]\nbogus = 2\n", None, ["bad scenario spec", "unknown key 'bogus'"]),
        ("wat = \n", None, ["bad scenario spec", "not valid TOML"]),
        ('wat = "missing.wat"\nexport = "f"\n', None, ["key 'wat': no such file"]),
        (SPIN + 'args = [1]\n[[imports]]\nmodule = "h"\nname = "x"\nhost = "nosuch"\n', None,
         ["unknown host behaviour 'nosuch'"]),
        (f'wat = "{WAT}/mark.wat"\nexport = "run"\nargs = [1]\n', None,
         ["module imports host.mark, the spec provides no host"]),
        (f'wat = "{WAT}/mark.wat"\nexport = "run"\nargs = [1]\n[[imports]]\nmodule = "host"\n'
         'name = "mark"\nhost = "add_one"\n', None, ["import host.mark has type"]),
    ],
)  # fmt: skip
@pytest.mark.parametrize("compiler", ["wabt", "none"])
def test_bad_specs(spec, body: str, wat: str | None, needles: list[str], compiler: str) -> None:
    env = {"GVLBENCH_WAT2WASM": compiler} if compiler == "none" else {}
    _one_line_error(gvlbench("run", str(spec(body, wat)), "-t", "1", env=env), *needles)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "nosuch"], ["unknown scenario", "'nosuch'", "known: ", "callback", "spin"]),
        (["run", "spin", "--threads", "0"], ["--threads must be at least 1, got 0"]),
        (["run", "spin", "--threads", "-3"], ["--threads must be at least 1"]),
        (["run", "spin", "--threads", "x"], ["bad option", "not a valid integer"]),
        (["run", "spin", "--mode", "sideways"], ["bad option", "'sideways'"]),
        (["run", "spin", "--processes", "0"], ["bad option", "must be at least 1"]),
        (["run", "/no/such/spec.toml"], ["bad scenario spec", "cannot read spec"]),
        (["frobnicate"], ["bad option", "No such command"]),
    ],
)
def test_bad_command_lines(args: list[str], needles: list[str]) -> None:
    _one_line_error(gvlbench(*args), *needles)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not JSON"),
        ('{"version": "1.0", "benchmarks": []}', "no 'gvlbench' section"),
        ('{"version": "0.1", "benchmarks": []}', "not a gvlbench/pyperf results file"),
        ('{"version": "1.0", "benchmarks": [], "gvlbench": {"schema": 99}}', "schema 99"),
        ('{"version": "1.0", "benchmarks": 7, "gvlbench": {"schema": 1}}', "'benchmarks'"),
        ("[]", "not a gvlbench/pyperf results file"),
    ],
)
def test_corrupt_results_files(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    _one_line_error(gvlbench("show", str(path)), "bad results file", needle)


def test_missing_results_file() -> None:
    _one_line_error(gvlbench("show", "/no/such/results.json"), "cannot read")
