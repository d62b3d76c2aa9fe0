"""The gate tells "the machine could not run two threads at once" from "the lock is held".

Each lock measurement carries a control from the same rounds (threads of pure Wasm that need
no lock). Where the control could not reach what a rule asks, the verdict is unsure, with
the machine's share in the note, never a failure; where it could, a low reading is the lock.
"""

from __future__ import annotations

from gvlbench.modes import cell_of
from gvlbench.report import gate
from gvlbench.results import Results

BUSY = {"cpus": 2, "wall_s": 3.0, "steal_cpus": 0.4, "other_cpus": 1.7}


def _progress(overlap: float, control: float | None, ratio: float, mode: str) -> dict:
    row = {"scenario": "s", "mode": mode, "via": "host mark", "overlap": [overlap] * 3,
           "overlap_threads": 2, "machine": BUSY,
           "samples": [{"ratio": ratio, "call_s": 0.1, "rate_alone_per_s": 1.0}] * 3}  # fmt: skip
    if control is not None:
        row["control_overlap"] = [control] * 3
    return row


def _judged(*rows: dict) -> dict[tuple[str, str], gate.Rule]:
    res = Results({"usable_cpus": 2}, "run")
    for row in rows:
        res.add_progress(row)
    rules = gate.judge(gate.GateConfig(), res, None)
    return {(r.rule, [*r.row.split("/"), ""][1]): r for r in rules}


def test_a_serialised_release_is_unsure_when_pure_wasm_could_not_overlap_either() -> None:
    rules = _judged(_progress(0.05, 0.10, 0.2, "released"), _progress(0.0, 0.1, 0.0, "held"))
    overlaps = rules["released overlaps", "mode=released"]
    assert overlaps.verdict == "unsure"
    assert overlaps.why.startswith("the machine was busy: pure Wasm overlapped 0.10")
    assert "steal 0.40 of 2 cores, others used 1.70" in overlaps.why
    assert rules["released lets the sibling run", "mode=released"].verdict == "unsure"
    assert rules["held serialises", "mode=held"].verdict == "unsure"
    assert gate.exit_code(list(rules.values())) == 0


def test_a_serialised_release_fails_when_pure_wasm_overlapped_in_the_same_rounds() -> None:
    rules = _judged(_progress(0.05, 0.97, 0.2, "released"), _progress(0.0, 0.95, 0.0, "held"))
    assert rules["released overlaps", "mode=released"].verdict == "fail"
    assert rules["released lets the sibling run", "mode=released"].verdict == "fail"
    assert rules["held serialises", "mode=held"].verdict == "pass"
    assert gate.exit_code(list(rules.values())) == 1


def test_a_control_between_the_rule_and_full_overlap_still_decides_by_the_rule() -> None:
    """The control reached 0.75 (the rule asks 0.7): the machine could give what the rule
    asks, so a release reading 0.3 is the lock's doing."""
    rules = _judged(_progress(0.3, 0.75, 0.9, "released"))
    assert rules["released overlaps", "mode=released"].verdict == "fail"


def test_a_row_without_a_control_has_the_machines_share_to_go_by() -> None:
    """The Ruby worker runs no control: its rows are unsure where steal and other processes
    left fewer cores free than it ran threads, judged where they did not, and a file with
    neither (written before either was recorded) is judged as it always was."""
    busy = _progress(0.05, None, 0.2, "released")
    quiet = {**busy, "machine": {**BUSY, "steal_cpus": 0.0, "other_cpus": 0.1}}
    unknown = {k: v for k, v in busy.items() if k != "machine"}
    verdicts = {}
    for name, row in (("busy", busy), ("quiet", quiet), ("unknown", unknown)):
        rule = _judged(row)["released overlaps", "mode=released"]
        verdicts[name] = rule.verdict
        if name == "busy":
            assert "0.00 cores free on average for 2 threads" in rule.why
    assert verdicts == {"busy": "unsure", "quiet": "fail", "unknown": "fail"}


QUIET = {**BUSY, "steal_cpus": 0.0, "other_cpus": 0.1}


def _speedup_results(
    released_s: float, control_s: float | list[float], machine: dict = QUIET
) -> Results:
    """A paired speedup file: every cell 1.0 s per round at one thread; at two threads,
    released takes `released_s` and the control `control_s` (2.0: no speedup at all; a list
    gives each round its own)."""
    res = Results({"usable_cpus": 2}, "run")
    rounds = 8
    control = control_s if isinstance(control_s, list) else [control_s] * rounds
    cells = {"released/1": [1.0] * rounds, "released/2": [released_s] * rounds,
             "held/1": [1.0] * rounds, "held/2": [2.0] * rounds,
             "control/1": [1.0] * rounds, "control/2": control}  # fmt: skip
    for cell, seconds in cells.items():
        mode, threads = cell.split("/")
        if mode == "control":
            continue
        md = {"name": f"s/mode={mode}/threads={threads}", "unit": "second", "scenario": "s",
              "mode": mode, "threads": int(threads), "loops": 1, "call_path": "stock"}  # fmt: skip
        res.add_benchmark({"metadata": md, "runs": [{"metadata": {}, "values": seconds,
                                                     "warmups": [[1, seconds[0]]]}]})  # fmt: skip
    res.speedup.append({"scenario": "s", "call_path": "stock", "loops": 1,
                        "cells": {cell_of(k): v for k, v in cells.items()},
                        "machine": machine})  # fmt: skip
    return res


def _speedup_rules(*args: object) -> dict[str, gate.Rule]:
    return {r.rule: r for r in gate.judge(gate.GateConfig(), _speedup_results(*args), None)}


def test_a_speedup_that_pure_wasm_could_not_reach_is_unsure_not_failed() -> None:
    busy = _speedup_rules(2.0, 2.0)
    assert busy["released speeds up"].verdict == "unsure"
    assert "pure Wasm's speedup was at least 1.00" in busy["released speeds up"].why
    quiet = _speedup_rules(2.0, 1.0)
    assert quiet["released speeds up"].verdict == "fail"
    assert quiet["held does not speed up"].verdict == "pass"


def test_a_control_whose_interval_straddles_the_limit_proves_nothing() -> None:
    """Pure Wasm sped up 2.0 in some rounds and not at all in others (another process took a
    core for part of the run): the machine did not show it could give 1.3, so a release that
    did not speed up is unsure, not failed."""
    rules = _speedup_rules(2.0, [1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0])
    assert rules["released speeds up"].verdict == "unsure"
    assert rules["released speeds up"].why.startswith("the machine was busy: pure Wasm's")


def test_a_speedup_where_other_processes_took_a_core_is_unsure() -> None:
    """The control sped up in the rounds, but other processes used most of a core over the
    child's run: fewer cores were free than threads ran, so a low release proves nothing."""
    rules = _speedup_rules(2.0, 1.0, BUSY)
    assert rules["released speeds up"].verdict == "unsure"
    assert "cores free on average for 2 threads" in rules["released speeds up"].why


def test_a_release_that_sped_up_passes_however_busy_the_machine() -> None:
    """A release that reached the limit shows the machine could give it: the pass stands."""
    rules = _speedup_rules(1.0, 2.0, BUSY)
    assert rules["released speeds up"].verdict == "pass"
    assert rules["held does not speed up"].verdict == "unsure"


def _doc(released_ratio: float, control: float) -> dict:
    res = Results({"usable_cpus": 2}, "run")
    res.add_progress(_progress(0.0, control, released_ratio, "released"))
    res.add_progress(_progress(0.0, control, 0.003, "held"))
    return res.to_json()


def test_the_tests_released_check_skips_only_where_the_machine_was_busy() -> None:
    """tests/conftest.released_beats_held, the end-to-end tests' released check: a released
    sibling no better than held is a failure where pure Wasm overlapped in the same rounds,
    a skip (saying why) where it did not, and a pass wherever released is better."""
    import pytest

    from tests.conftest import released_beats_held

    released_beats_held(_doc(0.5, 0.0))  # better than held: judged, whatever the machine
    with pytest.raises(pytest.skip.Exception, match=r"pure Wasm overlapped 0\.00"):
        released_beats_held(_doc(0.002, 0.0))  # CI's component run: the control stood still
    with pytest.raises(AssertionError, match="no better than held"):
        released_beats_held(_doc(0.002, 0.97))


def test_runs_control_lines_say_unsure_exactly_where_the_gate_does() -> None:
    """`run`'s control lines and the gate read the machine by one rule: a control straddling
    the limit, or a machine whose other processes took a core, is flagged on the line as the
    gate says unsure; a control that showed the limit is not (the line once flagged a
    control by its interval's high end and left the machine's share out)."""
    from gvlbench.report.busy import control_lines

    cases = [(2.0, 2.0, QUIET), (2.0, [1.0, 2.0] * 4, QUIET), (2.0, 1.0, BUSY), (2.0, 1.0, QUIET)]
    for released_s, control_s, machine in cases:
        res = _speedup_results(released_s, control_s, machine)
        verdict = {r.rule: r for r in gate.judge(gate.GateConfig(), res, None)}
        (line,) = control_lines(res, gate.GateConfig())
        unsure = verdict["released speeds up"].verdict == "unsure"
        assert ("reads unsure" in line) == unsure, (control_s, machine, line)
        assert line.startswith("control: s: pure Wasm at 2 threads sped up")
    for control in (0.10, 0.97):
        res = Results({"usable_cpus": 2}, "run")
        res.add_progress({**_progress(0.05, control, 0.2, "released"), "machine": QUIET})
        verdict = {r.rule: r for r in gate.judge(gate.GateConfig(), res, None)}
        (line,) = control_lines(res, gate.GateConfig())
        unsure = verdict["released overlaps"].verdict == "unsure"
        assert ("reads unsure" in line) == unsure == (control < 0.7), line


def test_more_threads_than_cores_ask_the_machine_for_its_cores_alone() -> None:
    """A run at 4 threads on 2 cores cannot have 4 cores free: a quiet machine is not busy
    for it (it was, always), a loaded one still is."""
    from gvlbench.report.busy import of_speedup

    assert of_speedup(1.9, 1.3, QUIET, 4) == ""
    assert "cores free on average for 4 threads" in of_speedup(1.9, 1.3, BUSY, 4)
