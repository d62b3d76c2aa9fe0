"""Bad input: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, WAT, gvlbench, one_line_error

SPIN = f'wat = "{WAT}/spin.wat"\nexport = "spin"\n'
CI_BASELINE = str(REPO / "baselines" / "ci.json")


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
    one_line_error(gvlbench("run", str(spec(body, wat)), "-t", "1", env=env), *needles)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "nosuch"], ["unknown scenario", "'nosuch'", "known: ", "callback", "spin"]),
        (["run", "spin", "--threads", "0"], ["--threads", "0 is not in the range 1<=x<=1024"]),
        (["run", "spin", "--rounds", "2"], ["--rounds", "2 is not in the range x>=3"]),
        (["run", "spin", "--threads", "-3"], ["--threads", "-3 is not in the range"]),
        (["run", "spin", "--threads", "x"], ["bad option", "not a valid integer"]),
        (["run", "spin", "--mode", "sideways"], ["bad option", "'sideways'"]),
        (["run", "spin", "--processes", "0"], ["bad option", "--processes", "range x>=1"]),
        (["run", "/no/such/spec.toml"], ["bad scenario spec", "cannot read spec"]),
        (["frobnicate"], ["bad option", "No such command"]),
        (["calls", "--python", "a", "--python", "b"], ["calls measures one interpreter"]),
        (["sweep", "--python", "a", "--python", "b"], ["sweep measures one interpreter"]),
        (["profile", "--stmt", "1", "--python", "a", "--python", "b"],
         ["profile measures one interpreter"]),
        (["calls", "--threads", "0"], ["--threads", "0 is not in the range 1<=x<=1024"]),
        (["race", "--guard-cost", "--python", "x"], ["--guard-cost", "drop --python"]),
        (["gate", "--baseline", CI_BASELINE, "--current", CI_BASELINE, "--python", "x"],
         ["--current judges a file already measured; drop --python"]),
        (["verify", "--python", "/no/such/python"], ["--python /no/such/python: no such file"]),
        (["trace"], ["trace needs a command after --"]),
        (["trace", "--", "/no/such/program"], ["no such program: /no/such/program"]),
        (["trace", "--", "no_such_script.py"], ["no such script: no_such_script.py"]),
        (["trace", "--", "no-such-program-x"], ["no such program: no-such-program-x"]),
        (["trace", "--python", "/no/such/python", "--", "app.py"],
         ["--python /no/such/python: no such file"]),
        (["trace", "--timeout", "0", "--", "app.py"], ["--timeout", "above 0", "got 0"]),
        (["trace", "--refuse", "--let-it-crash", "--", "app.py"], ["not both"]),
        (["trace", "--", "true"], ["no Python process of it loaded the trace hook"]),
        (["trace", "--python", "/bin/ls", "--", "app.py"],
         ["--python /bin/ls: not a Python 3 interpreter (exit code 2: "]),
    ],
)  # fmt: skip
def test_bad_command_lines(args: list[str], needles: list[str]) -> None:
    cli = gvlbench(*args)
    one_line_error(cli, *needles)
    assert len(cli.stderr) < 400, cli.stderr  # one line, and a short one


def test_a_traced_program_that_never_imports_wasmtime_is_bad_input(tmp_path: Path) -> None:
    """The wrong environment (`python` from PATH, without the package): the program dies
    before it imports wasmtime, and trace said exit 0, a silent pass in CI."""
    script = tmp_path / "app.py"
    script.write_text("import no_such_package_for_gvlbench\nimport wasmtime\n")
    one_line_error(gvlbench("trace", "-q", "--", str(script)), "ran under", sys.executable,
                   "exited with code 1", "no process of it imported a package trace watches",
                   "ModuleNotFoundError", "--python")  # fmt: skip


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
    one_line_error(gvlbench("show", str(path)), "bad results file", needle)


def test_missing_results_file() -> None:
    one_line_error(gvlbench("show", "/no/such/results.json"), "cannot read")


def _random_bytes() -> bytes:
    """200 random bytes that are certainly not UTF-8 (0xff never occurs in it)."""
    return b"\xff" + os.urandom(199)


def test_a_spec_of_random_bytes_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_bytes(_random_bytes())
    one_line_error(gvlbench("run", str(path)), "bad scenario spec", "not a text file (not UTF-8)")


@pytest.mark.parametrize("compiler", ["wabt", "none"])
def test_a_wat_source_of_random_bytes_is_one_line(spec, compiler: str) -> None:
    path = spec('wat = "case.wat"\nexport = "f"\n')
    (path.parent / "case.wat").write_bytes(_random_bytes())
    env = {"GVLBENCH_WAT2WASM": compiler} if compiler == "none" else {}
    cli = gvlbench("run", str(path), "--threads", "1", env=env)
    one_line_error(cli, "bad scenario spec", "key 'wat'", "case.wat is not a text file")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["show", "{bin}"], "not a text file (not UTF-8)"),
        (["compare", "{bin}", "{baseline}"], "not a text file (not UTF-8)"),
        (["gate", "--current", "{bin}", "--baseline", "{baseline}"], "not a text file"),
        (["gate", "--current", "{baseline}", "--baseline", "{bin}"], "not a text file"),
        (["gate", "--config", "{bin}", "--current", "{baseline}", "--baseline", "{baseline}"],
         "gate config is not a text file (not UTF-8)"),
        (["report", "{bin}", "--out", "{tmp}"], "not a text file (not UTF-8)"),
    ],
)  # fmt: skip
def test_binary_input_files_are_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    binary = tmp_path / "binary.json"
    binary.write_bytes(_random_bytes())
    baseline = REPO / "baselines" / "ci.json"
    argv = [a.format(bin=binary, baseline=baseline, tmp=tmp_path / "report") for a in args]
    one_line_error(gvlbench(*argv), needle)


@pytest.mark.parametrize(
    ("wat", "needle"),
    [
        ("x" * 300, "File name too long"),  # the OS refuses to look the name up
        ("a\\u0000b", "embedded null byte"),  # a TOML escape puts a NUL in the name
        ("loop", "Symlink loop"),
    ],
)
def test_a_wat_path_the_os_refuses_is_one_line(spec, wat: str, needle: str) -> None:
    path = spec(f'wat = "{wat}"\nexport = "f"\n')
    (path.parent / "loop").symlink_to("loop")
    one_line_error(gvlbench("run", str(path)), "bad scenario spec", "key 'wat'", needle)


def test_a_scenario_name_too_long_to_look_up_is_unknown() -> None:
    one_line_error(gvlbench("run", "x" * 300), "unknown scenario")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("measure = 3\n", "measure must be a table"),
        ("[[measure]]\nthreads = 2\n", "measure must be a table"),
        ('[measure]\npreset = "bogus"\n', "measure.preset: one of fast, default, rigorous"),
    ],
)
def test_gate_configs_that_parse_but_do_not_fit_are_one_line(
    tmp_path: Path, body: str, needle: str
) -> None:
    config = tmp_path / "gate.toml"
    config.write_text(body)
    baseline = str(REPO / "baselines" / "ci.json")
    one_line_error(gvlbench("gate", "--config", str(config), "--baseline", baseline), needle)
