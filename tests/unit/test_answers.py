"""Typed answers: a renamed or mistyped key is this child's failure, said in one line."""

from __future__ import annotations

import json

import pytest

from gvlbench.answers import (
    ANSWERS,
    CodeProbeAnswer,
    FoundEngine,
    ProfileAnswer,
    ProfilePart,
    ProgressAnswer,
    SpeedupAnswer,
    parse_answer,
)
from gvlbench.harness.runner import classify
from gvlbench.modes import Mode
from gvlbench.protocol import TASKS


def _doc(**keys: object) -> dict:
    return {"protocol": 1, "ok": True, "kind": "progress", "via": "host mark", "samples": [],
            **keys}  # fmt: skip


def test_a_good_answer_reads_typed() -> None:
    typed = parse_answer(_doc(overlap=[0.9], overlap_threads=2))
    assert typed == ProgressAnswer(via="host mark", samples=[], overlap=[0.9], overlap_threads=2)


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({k: v for k, v in _doc().items() if k != "via"}, "progress answer lacks 'via'"),
        (_doc(overlap_threads="2"), "'overlap_threads' is str, not int"),
        (_doc(overlap_threads=True), "'overlap_threads' is bool, not int"),
        ({"protocol": 1, "ok": True, "kind": "speedup", "loops": 4}, "lacks 'cells'"),
    ],
)
def test_a_renamed_or_mistyped_key_fails_the_child(doc: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_answer(doc)
    outcome = classify(0, (json.dumps(doc) + "\n").encode(), b"", 1.0)
    assert outcome.status == "failed"
    assert needle in outcome.describe()


def test_errors_pass_through_and_every_task_kind_has_an_answer() -> None:
    assert parse_answer({"ok": False, "error": {"type": "X", "message": "m"}}) is None
    assert set(ANSWERS) == set(TASKS)  # code-probe and profile answers are declared too
    probe = parse_answer({"ok": True, "kind": "code-probe", "result": "1", "comparable": True,
                          "alone_s": 0.1, "refused_in_thread": "", "binding_calls": {"x": 2},
                          "engines": [{"engine": "wasmtime", "version": "37.0.3",
                                       "path": "/lib/x.so", "evidence": "crate"}]})  # fmt: skip
    assert isinstance(probe, CodeProbeAnswer)
    assert probe.engines == [FoundEngine("wasmtime", "/lib/x.so", "37.0.3", "crate")]


def test_an_answer_of_a_kind_no_task_has_fails_the_child() -> None:
    doc = {"protocol": 1, "ok": True, "kind": "nosuch"}
    with pytest.raises(ValueError, match="unknown kind 'nosuch'"):
        parse_answer(doc)
    assert classify(0, (json.dumps(doc) + "\n").encode(), b"", 1.0).status == "failed"


def test_an_answer_to_another_task_fails_the_child() -> None:
    """The runner knows the task's kind: a progress answer to a speedup task is a worker bug
    that would otherwise reach the wrong experiment's record."""
    outcome = classify(0, (json.dumps(_doc()) + "\n").encode(), b"", 1.0, kind="speedup")
    assert outcome.status == "failed"
    assert "a progress answer to a speedup task" in outcome.describe()


def test_cells_read_as_mode_thread_tuples_and_write_back() -> None:
    doc = {"protocol": 1, "ok": True, "kind": "speedup", "loops": 3,
           "cells": {"held/1": [0.1, 0.2], "released/2": [0.1, 0.1]}}  # fmt: skip
    typed = parse_answer(doc)
    assert isinstance(typed, SpeedupAnswer)
    assert typed.cells == {(Mode.HELD, 1): [0.1, 0.2], (Mode.RELEASED, 2): [0.1, 0.1]}
    assert typed.to_json() == doc  # the one codec, both ways


@pytest.mark.parametrize("key", ["held", "held/x", "heldd/1", "held/0", "held/01", "/2"])
def test_a_cell_key_that_is_not_mode_slash_threads_fails(key: str) -> None:
    doc = {"ok": True, "kind": "sweep-point", "loops": 1, "cells": {key: [1.0]}, "alone_s": []}
    with pytest.raises(ValueError, match="not a mode/threads cell"):
        parse_answer(doc)


def test_nested_answers_are_typed_and_checked() -> None:
    part = {"phase_s": {"call": 0.1}, "calls": {"call": 1.0}}
    doc = {"ok": True, "kind": "profile", "runs": 4, "plain_s": [1.0], "hooked_s": [1.1],
           "setup": {**part, "total_s": 0.3}, "first": {**part, "total_s": 0.2}, "steady": part,
           "progress": [0.9]}  # fmt: skip
    typed = parse_answer(doc)
    assert isinstance(typed, ProfileAnswer)
    assert typed.setup == ProfilePart({"call": 0.1}, {"call": 1.0}, 0.3)
    assert typed.steady.total_s is None
    with pytest.raises(ValueError, match=r"profile answer's 'steady' lacks 'calls'"):
        parse_answer({**doc, "steady": {"phase_s": {}}})
    with pytest.raises(ValueError, match=r"'plain_s'\[0\] is str, not float"):
        parse_answer({**doc, "plain_s": ["1.0"]})
