"""The fake binding and the fake executor: registered, never chosen for a real runtime, and
answering every task kind as a worker would (through the real answer reader)."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import pytest

from gvlbench import bindings, scenario
from gvlbench.answers import ANSWERS, Answer, parse_answer
from gvlbench.bindings import Feature, Form, fake
from gvlbench.errors import InterpreterError, OptionError
from gvlbench.harness.fake import FakeExecutor
from gvlbench.harness.interpreter import binding_of, current, runtime_names
from gvlbench.harness.loop import ChildExecutor, Job
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.target import prepare_target
from gvlbench.modes import Mode
from gvlbench.protocol import (
    TASKS,
    BenchTask,
    CallPath,
    CallsTask,
    CheckTask,
    Code,
    CodeProbeTask,
    GuardCostTask,
    LegalUsesTask,
    PhasesTask,
    PoolTask,
    ProfileTask,
    ProgressTask,
    RaceTask,
    SpeedupTask,
    SweepPointTask,
    Task,
)


def test_it_is_registered_but_never_chosen_for_a_real_runtime() -> None:
    assert bindings.get("fake") is fake.BINDING
    for form in Form:  # a real Python never calls anything through it (or has no binding)
        with contextlib.suppress(OptionError):
            assert binding_of(None, form) is not fake.BINDING
    assert binding_of(current()) is not fake.BINDING
    assert "fake" not in runtime_names()  # never offered to --runtime
    with pytest.raises(InterpreterError, match="made by a test"):
        fake.BINDING.find_runtime()
    with pytest.raises(OptionError, match="no worker"):  # a real child cannot play it
        ChildExecutor().run(
            Job(
                "x",
                CheckTask(check="trap", mode=Mode.HELD, call_path="stock", threads=1, repeat=1),
                fake.FakeRuntime(),
            )
        )


def test_its_runtime_gets_it_with_the_capabilities_a_test_declares() -> None:
    rt = fake.FakeRuntime()
    assert binding_of(rt) is fake.BINDING and fake.BINDING.has(Feature.PATCHES)
    with fake.declared(fake.lacking(Mode.HELD, Feature.PATCHES, Form.CODE)) as binding:
        assert binding_of(rt) is binding
        assert binding.modes((Mode.HELD, Mode.RELEASED)) == (Mode.RELEASED,)
        assert binding.why_not(Feature.PATCHES) == "the fake binding was declared without patches"
        assert binding.why_not(Mode.HELD) == "the fake binding was declared without held"
        with pytest.raises(OptionError, match="declared without code"):
            binding_of(rt, Form.CODE)
    assert fake.BINDING.capabilities is fake.FULL  # undone on leaving the block
    assert fake.FakeRuntime(gil="disabled").label == "fake1.0t"


def _tasks() -> list[Task]:
    """One task of every kind, on the built-in `nop` scenario."""
    target, _ = prepare_target(scenario.find("nop"))
    code = Code("f()", ("def f(): return 1",))
    call = {"target": target, "mode": Mode.RELEASED, "call_path": "stock"}
    return [
        BenchTask(**call, name="nop/mode=released/threads=2", threads=2,
                  metadata={"scenario": "nop", "mode": "released", "threads": 2}),
        SpeedupTask(target=target, call_path="stock", modes=(Mode.HELD, Mode.RELEASED),
                    threads=(1, 2), rounds=3),
        ProgressTask(**call, repeats=2, overlap_threads=2),
        PoolTask(**call, threads=2, executor="processes", total_calls=8),
        RaceTask(**call, threads=2, store="shared", guard=False, duration_s=0.1),
        GuardCostTask(**call, rounds=2, guards=("python", "native")),
        PhasesTask(**call, threads=2),
        CodeProbeTask(target=code, mode=Mode.RELEASED, call_path="stock"),
        ProfileTask(target=code, mode=Mode.HELD, call_path="stock", rounds=2),
        CallsTask(target=target, rounds=2, paths=(CallPath.STOCK, CallPath.LEAN),
                  modes=(Mode.HELD, Mode.RELEASED), threads=2),
        SweepPointTask(target=target, call_path=CallPath.LEAN, threads=2, rounds=3),
        CheckTask(check="trap", mode=Mode.HELD, call_path="stock", threads=2, repeat=2),
        LegalUsesTask(design="none", entries="e.wasm", reenter="r.wasm"),
    ]  # fmt: skip


def test_every_task_kind_is_answered_with_its_kind_through_the_real_reader() -> None:
    tasks = _tasks()
    assert {t.kind for t in tasks} == set(TASKS) == set(ANSWERS)
    executor = FakeExecutor()
    for task in tasks:
        outcome = executor.run(Job(task.kind, task))
        assert outcome.ok and isinstance(outcome.answer, Answer)
        assert outcome.answer.kind == task.kind
        assert parse_answer(outcome.answer.to_json()) == outcome.answer  # JSON and back
    assert [j.label for j in executor.ran] == [t.kind for t in tasks]


def test_the_lock_model_serialises_held_threads_and_lets_released_ones_collide() -> None:
    executor = FakeExecutor(call_s=0.01, cores=2)
    assert executor.wall_s(Mode.HELD, 4) == pytest.approx(0.04)
    assert executor.wall_s(Mode.RELEASED, 4) == pytest.approx(0.02)
    assert executor.wall_s(Mode.AS_SHIPPED, 2) == pytest.approx(0.01)
    race = next(t for t in _tasks() if isinstance(t, RaceTask))
    shared = executor.answer(race)
    assert shared.exceptions and not shared.refused  # type: ignore[attr-defined]
    guarded = executor.answer(replace(race, guard=True))
    assert guarded.refused and not guarded.exceptions  # type: ignore[attr-defined]
    held = executor.answer(replace(race, mode=Mode.HELD))
    assert not held.exceptions and not held.refused  # type: ignore[attr-defined]


def test_a_job_can_end_as_a_child_that_did_not_answer() -> None:
    crashed = ChildOutcome("crashed", -6, 0.1, signal="SIGABRT")
    executor = FakeExecutor(fail=lambda job: crashed if job.label == "b" else None)
    task = _tasks()[0]
    assert executor.run(Job("a", task)).ok
    assert executor.run(Job("b", task)) is crashed
