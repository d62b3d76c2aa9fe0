"""trace's verdict: the program's end and the findings together, and a trace that lost its
records is never called safe (gvlbench/trace/verdict.py)."""

from __future__ import annotations

from gvlbench.trace import verdict


def _program(**fields: object) -> dict[str, object]:
    row = {"kind": "program", "argv": ["prog.py"], "status": "exited", "returncode": 0,
           "duration_s": 0.1, "description": "exited with code 0 after 0.1 s"}  # fmt: skip
    return {**row, **fields}


def test_a_clean_program_with_nothing_found_is_zero() -> None:
    code, _ = verdict.verdict([_program()])
    assert code == 0


def test_a_failing_program_is_one_though_nothing_was_found() -> None:
    code, line = verdict.verdict([_program(returncode=1, description="exited with code 1")])
    assert code == 1 and "the program failed" in line


def test_records_the_hook_could_not_write_make_the_trace_incomplete_not_clean() -> None:
    lost = "gvlbench trace hook: could not write its records (No space left on device)"
    code, line = verdict.verdict([_program(records_lost=lost)])
    assert code == 1 and "the trace is incomplete" in line and "No space left" in line
