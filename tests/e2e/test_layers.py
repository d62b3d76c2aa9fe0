"""The layers as processes see them: a measuring child loads the worker and the binding and
never the parent's code (harness, report, cli); `gvlbench --help` and `gvlbench list` never
load libwasmtime. import-linter checks the static imports; these check what really loads."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from gvlbench import scenario
from gvlbench.harness.target import prepare_target
from gvlbench.protocol import (
    CheckTask,
    GuardCostTask,
    Mode,
    ProgressTask,
    RaceTask,
    Task,
)
from tests.conftest import REPO

PARENT_SIDE = ("gvlbench.harness", "gvlbench.report", "gvlbench.cli")
_IMPORT_LINE = re.compile(r"^import time:\s+\d+\s+\|\s+\d+\s+\|\s*(\S+)\s*$")


def _tasks() -> list[Task]:
    target, _ = prepare_target(scenario.find("nop"))
    return [
        GuardCostTask(target=target, mode=Mode.RELEASED, call_path="lean", rounds=3),
        RaceTask(
            target=target,
            mode=Mode.RELEASED,
            call_path="stock",
            threads=2,
            store="per-thread",
            guard=True,
            duration_s=0.2,
        ),
        ProgressTask(target=target, mode=Mode.HELD, call_path="stock", repeats=1),
        CheckTask(check="results", mode=Mode.RELEASED, call_path="stock", threads=1, repeat=1),
    ]


@pytest.mark.parametrize("task", _tasks(), ids=lambda t: t.kind)
def test_a_measuring_child_never_imports_the_parents_code(task: Task) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "gvlbench.worker"],
        input=json.dumps(task.to_json()),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0 and answer["ok"], (answer, proc.stderr[-2000:])
    loaded = {m.group(1) for ln in proc.stderr.splitlines() if (m := _IMPORT_LINE.match(ln))}
    assert {"gvlbench.worker", "gvlbench.protocol", "gvlbench.binding.invoke"} <= loaded, (
        "importtime's output was not read: " + proc.stderr[:500]
    )
    parents = sorted(m for m in loaded if m.startswith(PARENT_SIDE))
    assert parents == [], f"the {task.kind} child imported {parents}"


_LIST_WITHOUT_WASMTIME = """
import contextlib, io, sys
from gvlbench.cli import main

for args in (["--help"], ["list"], ["list", "--json"], ["run", "--help"]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args)
        except SystemExit as exc:
            assert exc.code in (0, None), (args, exc.code)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("wasmtime", "_wasmtime")
                or m in ("gvlbench.binding.invoke", "gvlbench.binding.internals"))
print(loaded)
"""


def test_help_and_list_do_not_load_libwasmtime() -> None:
    """`gvlbench --help` and `list` answer at once: libwasmtime (~20 MB) is for measuring."""
    proc = subprocess.run([sys.executable, "-c", _LIST_WITHOUT_WASMTIME], capture_output=True,
                          text=True, timeout=60, cwd=REPO)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]", proc.stdout
