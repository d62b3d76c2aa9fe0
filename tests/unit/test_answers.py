"""Typed answers: a renamed or mistyped key is this child's failure, said in one line."""

from __future__ import annotations

import json

import pytest

from gvlbench.answers import ProgressAnswer, parse_answer
from gvlbench.harness.runner import classify


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


def test_errors_and_undeclared_kinds_pass_through() -> None:
    assert parse_answer({"ok": False, "error": {"type": "X", "message": "m"}}) is None
    assert parse_answer({"ok": True, "kind": "code-probe", "result": "1"}) is None
