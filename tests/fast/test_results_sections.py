"""Results sections are declared once: the attributes, the writer, the reader, its checks and
the list in docs/results.md all come from `results.SECTIONS`; files of schema 1 still read."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from gvlbench import results
from gvlbench.errors import ResultsFileError
from gvlbench.modes import Mode
from gvlbench.results import Results, Section
from tests.conftest import REPO

DOCS = runpy.run_path(str(REPO / "scripts" / "results_docs.py"))


def test_docs_list_the_sections_as_declared() -> None:
    assert DOCS["written"]() == DOCS["render"](), (
        "docs/results.md's sections table is out of date with results.SECTIONS: run `make docs`"
    )
    for section in results.SECTIONS:
        assert f"| `{section.name}` | {section.by} | {section.holds} |" in DOCS["written"]()


def test_every_section_is_an_attribute_written_and_read(tmp_path: Path) -> None:
    res = Results({}, "run")
    assert list(res.to_json()["gvlbench"]) == ["schema", "command", *results.section_names()]
    assert all(getattr(res, s.name) == [] for s in results.SECTIONS)
    with pytest.raises(TypeError, match="no results section 'nosuch'"):
        Results({}, "run", nosuch=[])
    with pytest.raises(AttributeError, match="no section or attribute 'nosuch'"):
        res.nosuch  # noqa: B018


def test_adding_a_section_is_one_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = Section("extra", "a test", "one extra row", {"name": (str,)}, numbers=("xs",))
    monkeypatch.setattr(results, "SECTIONS", (*results.SECTIONS, extra))
    res = Results({}, "run", extra=[{"name": "a", "xs": [1, 2.5]}])
    doc = res.to_json()
    assert doc["gvlbench"]["extra"] == [{"name": "a", "xs": [1, 2.5]}]
    assert Results.from_json(doc).extra == res.extra
    doc["gvlbench"]["extra"] = [{"name": "a", "xs": [1, "2"]}]
    with pytest.raises(ResultsFileError, match=r"extra\[0\]\.xs\[1\] must be int/float"):
        Results.from_json(doc)
    doc["gvlbench"]["extra"] = [{"xs": []}]
    with pytest.raises(ResultsFileError, match=r"extra\[0\] lacks 'name'"):
        Results.from_json(doc)


# A speedup row as `run` wrote it before cells were tuples in code (schema 1, unchanged)
OLD = {"version": "1.0", "metadata": {"usable_cpus": 2}, "benchmarks": [],
       "gvlbench": {"schema": 1, "command": "run", "speedup": [
           {"scenario": "spin", "kind": "speedup", "threads": 2, "guard": False,
            "call_path": "stock", "loops": 4,
            "cells": {"held/1": [0.1, 0.1, 0.1], "held/2": [0.2, 0.2, 0.2],
                      "released/1": [0.1, 0.1, 0.1], "released/2": [0.1, 0.1, 0.1]}}]}}  # fmt: skip


def test_an_old_file_reads_its_cells_as_tuples_and_writes_them_back_the_same(tmp_path: Path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps(OLD))
    res = results.load(path)
    (row,) = res.speedup
    assert row["cells"][Mode.RELEASED, 2] == [0.1, 0.1, 0.1]
    assert set(row["cells"]) == {(m, t) for m in (Mode.HELD, Mode.RELEASED) for t in (1, 2)}
    assert res.to_json()["gvlbench"]["speedup"] == OLD["gvlbench"]["speedup"]
    results.write_results(tmp_path / "again.json", res)
    assert results.load(tmp_path / "again.json") == res


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("held/two", "'held/two' is not a mode/threads"),
        ("fast/2", "'fast/2' is not a mode/threads"),
    ],
)
def test_a_cell_that_is_not_mode_slash_threads_is_one_error(key: str, needle: str) -> None:
    doc = json.loads(json.dumps(OLD))
    doc["gvlbench"]["speedup"][0]["cells"] = {key: [0.1]}
    with pytest.raises(ResultsFileError, match=needle):
        Results.from_json(doc, "f.json")
    doc["gvlbench"]["speedup"][0]["cells"] = {"held/1": [0.1, "x"]}
    with pytest.raises(ResultsFileError, match=r"cells\['held/1'\]\[1\] must be int/float"):
        Results.from_json(doc, "f.json")


@pytest.mark.parametrize(
    "path",
    sorted([*REPO.glob("results/*.json"), *REPO.glob("baselines/*.json")]),
    ids=lambda p: p.name,
)
def test_every_committed_results_file_reads_and_writes_back_unchanged(path: Path) -> None:
    doc = json.loads(path.read_text())
    back = results.load(path).to_json()
    for name in results.section_names():
        assert back["gvlbench"][name] == doc["gvlbench"].get(name, []), name
