"""Output paths: checked before any work, and a failure to write never costs the report.

An output that cannot be written (a folder, a FIFO, under a file) is one line and exit 2 before
anything runs. One that fails at the end (a full disk: here, a file-size limit, EFBIG, which
needs no root) is said after the report, which is printed whole, and the exit is 2, never 3.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, gvlbench, one_line_error

BASELINE = str(REPO / "baselines" / "ci.json")


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    afile = tmp_path / "afile"
    afile.write_text("")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {"dir": str(tmp_path), "file": str(afile), "under": str(afile / "out.json"),
            "fifo": str(fifo)}  # fmt: skip


CASES = [
    (["run", "spin", "--json", "{dir}"], "--json", "a directory"),
    (["run", "spin", "--json", "{under}"], "--json", "is not a directory (a file)"),
    (["race", "--json", "{fifo}"], "--json", "a FIFO"),
    (["profile", "--stmt", "1", "--json", "{dir}"], "--json", "a directory"),
    (["trace", "--json", "{under}", "--", "x.py"], "--json", "is not a directory"),
    (["trace", "--records", "{file}", "--", "x.py"], "--records", "is a file"),
    (["verify", "--junit", "{dir}"], "--junit", "a directory"),
    (["verify", "--findings", "{file}"], "--findings", "not a directory (a file)"),
    (["calls", "--json", "{under}"], "--json", "is not a directory"),
    (["gate", "--baseline", BASELINE, "--current", BASELINE, "--markdown", "{dir}"],
     "--markdown", "a directory"),
    (["gate", "--baseline", "{under}", "--update-baseline"], "--baseline", "is not a directory"),
    (["report", BASELINE, "--out", "{file}"], "--out", "not a directory (a file)"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "flag", "words"), CASES, ids=[" ".join(c[0][:2]) for c in CASES])
def test_an_output_that_cannot_be_written_is_one_line_before_any_work(
    places: dict[str, str], args: list[str], flag: str, words: str
) -> None:
    cli = gvlbench(*(a.format(**places) for a in args), timeout=60)
    one_line_error(cli, flag, words)


def _limited(size: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _run_limited(args: list[str], size: int) -> subprocess.CompletedProcess[str]:
    """The CLI with every file it writes limited to `size` bytes: a disk that fills up."""
    return subprocess.run([sys.executable, "-m", "gvlbench", *args], capture_output=True,
                          text=True, timeout=300, preexec_fn=lambda: _limited(size))  # fmt: skip


def test_a_gate_that_cannot_write_its_files_still_prints_its_verdicts(tmp_path: Path) -> None:
    out, xml = tmp_path / "gate.json", tmp_path / "gate.xml"
    cli = _run_limited(["gate", "--baseline", BASELINE, "--current", BASELINE, "--json",
                        str(out), "--junit", str(xml)], 512)  # fmt: skip
    assert cli.returncode == 2, cli.stderr
    assert "Traceback" not in cli.stderr and "internal error" not in cli.stderr
    assert "gate" in cli.stdout.lower() and "verify" in cli.stdout  # the table, whole
    errors = [line for line in cli.stderr.splitlines() if line.startswith("gvlbench: error:")]
    assert len(errors) == 2 and all("could not write" in line for line in errors), errors
    assert any(str(out) in line for line in errors) and any(str(xml) in line for line in errors)
    assert not out.exists() and list(tmp_path.glob(".*.tmp")) == []


def test_a_trace_that_cannot_write_its_results_still_prints_its_report(tmp_path: Path) -> None:
    """4 KiB a file: room for the traced program's records (about 3 KiB for one Store), none
    for the results (about 6 KiB); the next test takes the records' room away too."""
    program = tmp_path / "prog.py"
    program.write_text("import wasmtime\nwasmtime.Store()\n")
    out = tmp_path / "trace.json"
    cli = _run_limited(["trace", "--json", str(out), "--", str(program)], 4096)
    assert cli.returncode == 2, cli.stderr
    assert "exited with code 0" in cli.stdout and "1 object(s) watched" in cli.stdout
    (error,) = [line for line in cli.stderr.splitlines() if line.startswith("gvlbench: error:")]
    assert f"could not write results {out}" in error


def test_a_terminal_that_cannot_encode_gets_escapes_not_an_internal_error() -> None:
    cli = gvlbench("show", BASELINE, env={"PYTHONIOENCODING": "ascii"})
    assert cli.returncode == 0, cli.stderr
    assert "Traceback" not in cli.stderr and "speedup" in cli.stdout.lower()


def test_a_trace_whose_records_have_no_room_says_so_not_the_wrong_environment(
    tmp_path: Path,
) -> None:
    """1 KiB a file: the hook's records stop after the first lines. That is not "no process
    imported wasmtime: the wrong environment" (the program did, in the right one), and no
    report is claimed "above" when an error took its place."""
    program = tmp_path / "prog.py"
    program.write_text("import wasmtime\nwasmtime.Store()\n")
    out = tmp_path / "trace.json"
    cli = _run_limited(["trace", "-q", "--json", str(out), "--", str(program)], 1024)
    assert cli.returncode == 2, cli.stderr
    assert "Traceback" not in cli.stderr and "environment" not in cli.stderr
    errors = [line for line in cli.stderr.splitlines() if line.startswith("gvlbench: error:")]
    assert len(errors) == 2, cli.stderr
    assert "could not write its records (File too large)" in errors[0]
    assert "nothing was traced: its records folder had no room" in errors[0]
    assert f"could not write results {out}" in errors[1] and "report above" not in errors[1]


def test_a_reader_that_stops_reading_is_not_a_failure() -> None:
    """`gvlbench show results.json | head -1`: the tables meet a closed pipe. rich and click
    make that exit 1; the command did all it was asked, so it is 0, with nothing on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "gvlbench", "show", BASELINE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(64)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""
