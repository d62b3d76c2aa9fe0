"""Nothing the user feeds gvlbench takes it down: devices, FIFOs, huge or deeply nested files.

Each input was once a harness reading /dev/urandom at 1.5 GB/s forever, blocked on a FIFO, an
exit 3 (RecursionError), or a harness the kernel killed at 24 GB compiling WAT in-process.
Each is now one line and exit 2, within the test's timeout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import gvlbench, one_line_error


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["show", "/dev/zero"], "not a regular file (a character device)"),
        (["show", "/dev/urandom"], "not a regular file (a character device)"),
        (["compile", "/dev/urandom"], "not a regular file (a character device)"),
        (["show", "."], "not a regular file (a directory)"),
        (["run", "/dev/zero"], "not a regular file"),
        (["compare", "/dev/zero", "/dev/null"], "not a regular file"),
    ],
)
def test_a_device_or_a_directory_is_refused_in_one_line(args: list[str], words: str) -> None:
    one_line_error(gvlbench(*args, timeout=60), words)


def test_a_fifo_is_refused_wherever_a_file_is_read(tmp_path: Path, fifo: Path, spec) -> None:
    wasm_spec = spec(f'wasm = "{fifo}"\nexport = "run"\n', name="wasm")
    wat_spec = spec(f'wat = "{fifo}"\nexport = "run"\n', name="wat")
    for args in (["show", str(fifo)], ["compile", str(fifo)], ["run", str(fifo)],
                 ["run", str(wasm_spec)], ["run", str(wat_spec)],
                 ["gate", "--baseline", str(fifo), "--current", str(fifo)],
                 ["gate", "--baseline", str(fifo), "--config", str(fifo)],
                 ["verify", "--known-defects", str(fifo)]):  # fmt: skip
        one_line_error(gvlbench(*args, timeout=60), "not a regular file (a FIFO)")


def test_a_spec_whose_module_is_a_device_names_its_key(spec) -> None:
    path = spec('wasm = "/dev/urandom"\nexport = "run"\n')
    one_line_error(gvlbench("run", str(path), timeout=60), "key 'wasm'", "/dev/urandom")


def test_a_file_too_large_to_read_whole_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.wat"
    with open(big, "wb") as f:
        f.truncate(100 << 20)  # sparse: no disk used
    one_line_error(gvlbench("compile", str(big), timeout=60), "larger than gvlbench reads")


def test_deeply_nested_json_and_toml_are_one_line(tmp_path: Path) -> None:
    deep = 100_000
    results, toml = tmp_path / "deep.json", tmp_path / "deep.toml"
    results.write_text("[" * deep + "]" * deep)
    toml.write_text("a = " + "[" * deep + "]" * deep)
    one_line_error(gvlbench("show", str(results)), "nested too deeply")
    one_line_error(gvlbench("run", str(toml)), "nested too deeply")


def test_wat_that_exhausts_the_compiler_is_one_line_not_a_dead_harness(tmp_path: Path) -> None:
    """Without wabt, wasmtime.wat2wasm compiles in a child limited to 1 GiB: a source nested
    deeply enough to need more is a malformed-WAT line, and the harness lives to say it."""
    nest = 3_000_000
    source = tmp_path / "deep.wat"
    source.write_text("(module (func " + "(block " * nest + ")" * nest + "))")
    cli = gvlbench("compile", str(source), timeout=180,
                   env={"GVLBENCH_WAT2WASM": "none", "GVLBENCH_CACHE": str(tmp_path)})  # fmt: skip
    one_line_error(cli, "malformed WAT", "too deeply nested")


def test_malformed_wat_keeps_the_compilers_own_words_in_the_child(tmp_path: Path) -> None:
    source = tmp_path / "bad.wat"
    source.write_text('(module (func (export "x") (result i32) (i32.const 1) ')
    cli = gvlbench("compile", str(source),
                   env={"GVLBENCH_WAT2WASM": "none", "GVLBENCH_CACHE": str(tmp_path)})  # fmt: skip
    one_line_error(cli, "malformed WAT", "bad.wat:1:", "expected")
