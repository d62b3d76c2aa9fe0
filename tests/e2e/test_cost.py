"""`calls`, `sweep`, `run --mode processes` and `run --python` end to end: real CLI, real
child processes, real wasmtime. Behaviour and structure are asserted, not speeds."""

from __future__ import annotations

from pathlib import Path

import pyperf
import pytest

from gvlbench import results
from gvlbench.report import calls as calls_report
from tests.conftest import REPO, gvlbench

QUICK_PYPERF = ("--processes", "1", "--values", "1")


def test_calls_prices_every_path_in_both_modes(tmp_path: Path) -> None:
    out = tmp_path / "calls.json"
    cli = gvlbench("calls", "-s", "nop", "--rounds", "5", "--json", str(out),
                   env={"COLUMNS": "250"})  # fmt: skip
    # Exit 1 exactly when the file says a measurement failed or a bar was missed (a finding,
    # not an error); the table's caption says the same as the file.
    res = results.load(out)
    verdict = calls_report.verdict(calls_report.call_rows(res))
    missed = bool(res.failures) or not (verdict.lean_ok and verdict.stock_ok)
    assert cli.returncode == (1 if missed else 0), (verdict, res.failures, cli.stderr)
    assert "Per-call cost by call path" in cli.stdout
    caption = " ".join(cli.stdout.split())
    assert f"lean within 1.3x of raw: {'yes' if verdict.lean_ok else 'no'}" in caption
    assert f"at least 5x lean: {'yes' if verdict.stock_ok else 'no'}" in caption
    names = sorted(b.get_name() for b in pyperf.BenchmarkSuite.load(str(out)).get_benchmarks())
    assert names == sorted(f"nop/mode={m}/threads=1/path={p}" for m in ("held", "released")
                           for p in ("floor", "raw", "lean", "stock"))  # fmt: skip
    shown = gvlbench("show", str(out))
    assert shown.returncode == 0 and "lean within 1.3x of raw" in " ".join(shown.stdout.split())


def test_sweep_reports_rows_and_a_crossover_per_path(tmp_path: Path) -> None:
    plot = str(tmp_path / "sweep.png")
    cli = gvlbench("sweep", "spin", "--sizes", "1000,30000000", "--call-path", "lean",
                   "--rounds", "5", "--json", "-", "--plot", plot)  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    doc = cli.json()
    rows = doc["sweep"]["rows"]
    assert [(r["path"], r["size"]) for r in rows] == [("lean", 1000), ("lean", 30000000)]
    assert all(r["wasm_s"] > 0 and r["verdict"] in ("faster", "same", "slower") for r in rows)
    assert rows[1]["wasm_s"] > 100 * rows[0]["wasm_s"]  # measured, and the work is 30,000x
    names = {b["metadata"]["name"] for b in doc["benchmarks"]}
    assert "spin[n=1000]/mode=held/threads=2/path=lean" in names
    assert set(doc["sweep"]["crossover"]) == {"lean"}
    assert (tmp_path / "sweep.png").stat().st_size > 0


def test_processes_mode_puts_threads_and_a_pool_side_by_side() -> None:
    cli = gvlbench("run", "spin", "--threads", "2", "--mode", "processes", "--pool-calls", "2",
                   "--pool-repeats", "2", "--json", "-")  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    pool = cli.json()["gvlbench"]["pool"]
    assert [(p["executor"], p["threads"]) for p in pool] == [
        ("threads", 1), ("processes", 1), ("processes", 1), ("threads", 1),
        ("threads", 2), ("processes", 2), ("processes", 2), ("threads", 2)]  # fmt: skip
    for p in pool:
        assert p["calls"] == 4 and len(p["wall_s"]) == 1 and p["peak_rss_kib"] > 0
    rss = {(p["executor"], p["threads"]): p["peak_rss_kib"] for p in pool}
    assert rss[("processes", 2)] > rss[("threads", 2)]  # two more interpreters with wasmtime


def _venv_python(version: str) -> str:
    path = REPO / ".venvs" / f"py{version}" / "bin" / "python"
    if not path.exists():
        pytest.skip(f"no venv for Python {version}: `make pythons` makes one from pyenv's "
                    f"{version} when this machine has it")  # fmt: skip
    return str(path)


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_other_interpreters_run_the_worker(version: str) -> None:
    python = _venv_python(version)
    cli = gvlbench("run", "spin", "--threads", "1", "--mode", "released", "--python", python,
                   *QUICK_PYPERF, "--progress-repeats", "1", "--json", "-")  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    doc = cli.json()
    (bench,) = doc["benchmarks"]
    md = bench["metadata"]
    assert md["runtime_version"].startswith(version) and md["gil"] == "enabled"
    assert md["python_version"].startswith(version)  # pyperf's own view of its worker
    assert bench["metadata"]["name"].endswith(f"/python={md['runtime_version']}")
    assert doc["gvlbench"]["progress"][0]["interpreter"] == f"python{md['runtime_version']}"


def test_an_interpreter_without_wasmtime_is_one_line_and_exit_2() -> None:
    bare = sorted(Path.home().glob(".pyenv/versions/3.1[23]*/bin/python"))
    if not bare:
        pytest.skip("no pyenv 3.12/3.13 interpreter on this machine")
    cli = gvlbench("run", "spin", "--python", str(bare[0]))
    assert cli.returncode == 2
    assert cli.stderr.count("\n") == 1 and "lacks wasmtime" in cli.stderr
    assert "pip install" in cli.stderr


def test_bad_sweep_and_calls_input_is_one_line() -> None:
    for args in (("sweep", "nop"), ("sweep", "spin", "--sizes", "a,b"),
                 ("sweep", "spin", "--threads", "1"), ("calls", "-s", "nosuch")):  # fmt: skip
        cli = gvlbench(*args)
        assert cli.returncode == 2 and cli.stderr.count("\n") == 1, (args, cli.stderr)
