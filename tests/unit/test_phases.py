"""Phases (issue 13): the task on the wire, the plan, recording, the rows, the table, and the
worker's own thread team against real wasmtime (a failing thread fails the task, no hang)."""

from __future__ import annotations

import io
import itertools
import json
import statistics
import threading
from typing import Any

import pytest
from rich.console import Console

from gvlbench.answers import PhasesAnswer, parse_answer
from gvlbench.binding.embed import ExpectationError
from gvlbench.bindings.ruby_ffi import RubyRuntime
from gvlbench.errors import ResultsFileError
from gvlbench.harness.loop import Job
from gvlbench.harness.run import RunExperiment, RunOptions, Step, plan
from gvlbench.harness.runner import ChildOutcome
from gvlbench.protocol import TASKS, Limits, Mode, PhasesTask, Target, Wasi, parse_task
from gvlbench.report.phases import COMMAND_NOTE, PhasesRow, phases_rows
from gvlbench.report.render import phases_table
from gvlbench.results import Results
from gvlbench.scenario import find
from gvlbench.wat import compile_wat
from tests.conftest import WAT

RUBY = RubyRuntime("/usr/bin/ruby", "3.1.2", "1.15.5")


def _row(mode: str = "released", threads: int = 2, **kw: Any) -> dict[str, Any]:
    row = {"scenario": "spin", "kind": "phases", "mode": mode, "threads": threads,
           "guard": False, "call_path": "stock", "compile_s": [0.001, 0.003, 0.002],
           "instantiate_s": [0.0002, 0.0001, 0.0003], "call_s": [0.03, 0.01, 0.02]}  # fmt: skip
    return {**row, **kw}


def _text(renderable: Any) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


# -- the task ---------------------------------------------------------------------------------


def test_phases_task_round_trips_through_the_wire() -> None:
    target = Target("/m.wasm", "_start", (), wasi=Wasi(args=("m",)), limits=Limits(fuel=10))
    task = PhasesTask(target=target, mode=Mode.HELD, call_path="lean", threads=4, rounds=2)
    wire = json.loads(json.dumps(task.to_json()))
    assert wire["kind"] == "phases" and wire["threads"] == 4 and wire["rounds"] == 2
    assert TASKS["phases"] is PhasesTask
    assert parse_task(wire) == task
    short = PhasesTask(target=target, mode=Mode.RELEASED, call_path="stock", threads=1)
    assert parse_task(short.to_json()).rounds == 3  # kept short by default


# -- the plan and the recording ---------------------------------------------------------------


def test_the_plan_ends_with_one_phases_step_per_mode_and_thread_count() -> None:
    steps = [s for s in plan(RunOptions(find("spin"), 2)) if s.kind == "phases"]
    assert [(str(s.mode), s.threads) for s in steps] == [
        ("held", 1), ("released", 1), ("held", 2), ("released", 2)]  # fmt: skip
    assert steps[-1].label() == "spin phases, released, 2 threads"
    off = plan(RunOptions(find("spin"), 2, phases=False))
    assert not [s for s in off if s.kind == "phases"]


def test_the_plan_asks_no_ruby_runtime_for_phases() -> None:
    steps = plan(RunOptions(find("spin"), 1, progress_repeats=0, runtimes=(RUBY,)))
    assert [s.kind for s in steps] == ["bench", "bench"]


def _record(outcome: ChildOutcome, scenario: str = "spin") -> tuple[Results, str | None]:
    experiment = RunExperiment(RunOptions(find(scenario), 2))
    step = Step(scenario, "phases", Mode.HELD, 2)
    (job,) = [j for j in experiment.plan() if j.context == step]
    results = Results(metadata={}, command="run")
    return results, experiment.record(results, job, outcome)


def test_an_answer_becomes_a_phases_row_and_a_crash_a_failure_row() -> None:
    answer = {"ok": True, "kind": "phases", "compile_s": [0.001], "instantiate_s": [0.0002],
              "call_s": [0.03]}  # fmt: skip
    results, problem = _record(ChildOutcome("ok", 0, 0.3, answer=parse_answer(answer)))
    assert problem is None
    (row,) = results.phases
    assert row["scenario"] == "spin" and row["kind"] == "phases" and row["mode"] == "held"
    assert row["threads"] == 2 and row["call_path"] == "stock" and row["wasi_command"] is False
    assert row["call_s"] == [0.03]
    assert Results.from_json(results.to_json()).phases == results.phases

    crashed = ChildOutcome("crashed", -6, 0.2, signal="SIGABRT")
    results, problem = _record(crashed, "wasi_spin")
    assert problem == "wasi_spin phases, held, 2 threads: crashed (SIGABRT)"
    (failure,) = results.failures
    assert failure["kind"] == "phases" and not results.phases
    assert failure["call_path"] == "stock" and failure["wasi_command"] is True
    (row,) = phases_rows(results)
    assert row.status == "crashed (SIGABRT)" and row.call_s is None and row.wasi_command


def test_a_wasi_command_row_says_so() -> None:
    answer = PhasesAnswer(compile_s=[0.001], instantiate_s=[0.0002], call_s=[0.03])
    results, _ = _record(ChildOutcome("ok", 0, 0.3, answer=answer), "wasi_spin")
    assert results.phases[0]["wasi_command"] is True


# -- the results file -------------------------------------------------------------------------


def test_phases_rows_are_checked_on_load_and_merged_by_extend() -> None:
    doc = Results(metadata={}, command="run", phases=[_row()]).to_json()
    assert Results.from_json(doc).phases == [_row()]
    doc["gvlbench"]["phases"][0]["call_s"] = [0.03, "slow"]
    with pytest.raises(ResultsFileError, match=r"phases\[0\]\.call_s\[1\]"):
        Results.from_json(doc)
    doc["gvlbench"]["phases"][0]["call_s"] = 0.03
    with pytest.raises(ResultsFileError, match=r"phases\[0\]\.call_s must be list"):
        Results.from_json(doc)
    del doc["gvlbench"]["phases"][0]["compile_s"]
    with pytest.raises(ResultsFileError, match="lacks 'compile_s'"):
        Results.from_json(doc)
    merged = Results(metadata={}, command="report", phases=[_row()])
    merged.extend(Results(metadata={}, command="run", phases=[_row(threads=1)]))
    assert [r["threads"] for r in merged.phases] == [2, 1]


# -- the derived rows -------------------------------------------------------------------------


def test_rows_give_each_phase_median_and_its_share_of_the_three() -> None:
    res = Results(metadata={}, command="run", phases=[_row()])
    (row,) = phases_rows(res)
    assert (row.compile_s, row.instantiate_s, row.call_s) == (0.002, 0.0002, 0.02)
    assert row.samples == 3 and row.status == "ok" and not row.wasi_command
    total = 0.002 + 0.0002 + 0.02
    assert row.call_share == pytest.approx(0.02 / total)
    assert row.compile_share + row.instantiate_share + row.call_share == pytest.approx(1.0)


def test_rows_of_one_key_pool_their_samples_and_sort_by_key() -> None:
    res = Results(metadata={}, command="report", phases=[
        _row(call_s=[0.05]), _row(mode="held", threads=1, wasi_command=True),
        _row(call_s=[0.01, 0.07]), _row(interpreter="python3.13.0t", gil="disabled"),
    ])  # fmt: skip
    rows = phases_rows(res)
    assert [(r.interpreter, r.mode, r.threads) for r in rows] == [
        ("", "held", 1), ("", "released", 2), ("python3.13.0t", "free-threaded", 2)]  # fmt: skip
    assert rows[0].wasi_command and not rows[1].wasi_command
    assert rows[1].call_s == statistics.median([0.05, 0.01, 0.07])
    assert rows[1].samples == 3  # the fewest of any phase: 3 calls, 6 compiles


# -- the table --------------------------------------------------------------------------------


def _ok(mode: str, threads: int, **kw: Any) -> PhasesRow:
    return PhasesRow("spin", mode, threads, "ok", 0.001, 0.0002, 0.03, 0.032, 0.006, 0.962,
                     samples=3 * threads, call_path="stock", **kw)  # fmt: skip


def test_the_table_shows_each_phase_with_its_share() -> None:
    text = _text(phases_table([_ok("held", 1), _ok("released", 2)]))
    assert "Phases per thread: compile, instantiate, call: spin" in text
    assert "1ms (3.2%)" in text and "200us (0.6%)" in text and "30ms (96.2%)" in text
    assert "status" not in text and COMMAND_NOTE.split(":")[0] not in text


def test_the_table_of_a_command_says_what_run_times_and_a_failure_shows() -> None:
    rows = [_ok("held", 1, wasi_command=True),
            PhasesRow("[bold]odd[/bold]", "released", 2, "hung (killed after 300 s)",
                      call_path="stock")]  # fmt: skip
    table = phases_table(rows)
    assert [c.header for c in table.columns] == [
        "scenario", "mode", "threads", "compile", "instantiate", "call", "n", "status"]  # fmt: skip
    text = " ".join(_text(table).split())
    assert "time instantiate + call (what an embedder pays per request)" in text
    assert "[bold]odd[/bold]" in text  # escaped, not styled
    assert "status" in text and "hung (killed after 300 s)" in text


# -- the worker, in this process, against real wasmtime ---------------------------------------


def _spin_task(threads: int, **target: Any) -> PhasesTask:
    wasm = str(compile_wat(WAT / "spin.wat").wasm_path)
    spin = Target(wasm, "spin", (1000,), **target)
    return PhasesTask(target=spin, mode=Mode.RELEASED, call_path="stock", threads=threads,
                      rounds=2)  # fmt: skip


def test_the_worker_times_every_thread_in_every_round_of_each_phase() -> None:
    from gvlbench.worker.phases import run_phases

    answer = run_phases(_spin_task(2))
    assert set(answer) == {"compile_s", "instantiate_s", "call_s"}
    assert all(len(v) == 4 and all(s > 0 for s in v) for v in answer.values())


def test_a_wrong_result_in_one_thread_fails_the_task_instead_of_hanging(monkeypatch) -> None:
    from gvlbench.worker import phases

    real, calls = phases._call, itertools.count(1)

    def lie() -> None:
        raise ExpectationError("spin returned 1")

    def wrong_once(emb: Any, path: Any) -> Any:  # the call phase of one thread, once
        return lie if next(calls) == 2 else real(emb, path)

    monkeypatch.setattr(phases, "_call", wrong_once)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            phases.run_phases(_spin_task(2))
        except BaseException as exc:
            raised.append(exc)

    runner = threading.Thread(target=run, daemon=True)  # a hang is a failure, not a stuck test
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "a thread's failure left the others waiting at the barrier"
    assert [str(e) for e in raised] == ["spin returned 1"]
    monkeypatch.undo()
    with pytest.raises(ExpectationError, match="expected 7"):
        phases.run_phases(_spin_task(2, expect_result=7))  # the warm-up call checks it first


def test_the_job_for_a_phases_step_carries_a_phases_task() -> None:
    experiment = RunExperiment(RunOptions(find("spin"), 1, modes=(Mode.HELD,)))
    jobs: list[Job] = [j for j in experiment.plan() if isinstance(j.task, PhasesTask)]
    assert len(jobs) == 1 and jobs[0].task.threads == 1 and jobs[0].task.call_path == "stock"
