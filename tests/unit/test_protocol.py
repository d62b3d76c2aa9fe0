"""The wire contract: every task kind survives its own writer and reader, the reader refuses
what is not a task, and the harness's list of checks is the worker's, in the same order."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gvlbench import protocol
from gvlbench.checklist import CHECKS
from gvlbench.protocol import (
    BenchTask,
    CallPath,
    CallsTask,
    CheckTask,
    Code,
    CodeProbeTask,
    GuardCostTask,
    Import,
    LegalUsesTask,
    Mode,
    PhasesTask,
    PoolTask,
    ProfileTask,
    ProgressTask,
    PyperfOptions,
    RaceTask,
    SpeedupTask,
    SweepPointTask,
    Target,
    Task,
    parse_task,
)

# Every optional part of a target set, so a field the reader drops cannot go unseen.
TARGET = Target("/cache/x.wasm", "run", (3, -1.5), (Import("host", "mark", "mark"),), 42, None)
TRAPPING = Target("/cache/t.wasm", "boom", (), (), None, "unreachable")
CODE = Code("ctx.eval('1+2')", ("import quickjs_rs", "rt = quickjs_rs.Runtime()"),
            ("ctx = rt.new_context()",))  # fmt: skip

# One instance of every kind, each with its non-default values, keyed by kind.
EXAMPLES: dict[str, Task] = {
    t.kind: t
    for t in (
        BenchTask(name="mark/mode=held/threads=2", target=TARGET, mode=Mode.HELD,
                  call_path="lean", threads=2, guard=True, check_each_call=False,
                  pyperf=PyperfOptions(processes=1, values=2, warmups=0, min_time=0.05, loops=8),
                  metadata={"scenario": "mark", "threads": 2, "ratio": 0.5}),
        ProgressTask(target=TARGET, mode=Mode.RELEASED, call_path="stock", repeats=3,
                     overlap_threads=2),
        PoolTask(target=TARGET, mode=Mode.RELEASED, call_path="stock", threads=4,
                 executor="processes", total_calls=40, repeats=2),
        RaceTask(target=TRAPPING, mode=Mode.RELEASED, call_path="stock", threads=8,
                 store="shared", guard=True, duration_s=0.5, guard_kind="affinity",
                 entry="fuel-set"),
        GuardCostTask(target=TARGET, mode=Mode.HELD, call_path="lean", rounds=7,
                      guards=("python", "mutex"), entry="global.get"),
        LegalUsesTask(design="affinity", entries="/cache/entries.wasm",
                      reenter="/cache/reenter.wasm"),
        CallsTask(target=TARGET, rounds=5, paths=(CallPath.RAW, CallPath.FLOOR),
                  modes=(Mode.RELEASED, Mode.HELD)),
        SweepPointTask(target=TARGET, call_path=CallPath.LEAN, threads=2, rounds=4),
        SpeedupTask(target=TARGET, call_path="stock", modes=(Mode.HELD, Mode.RELEASED),
                    threads=(1, 2, 4), rounds=5, batch_s=0.02, budget_s=9.0,
                    patches=("store-guard",)),
        CheckTask(check="trap", mode=Mode.HELD, call_path="stock", threads=3, repeat=2,
                  sabotage=True, modules={"TRAP": "/cache/trap.wasm"},
                  patches=("thread-local-exceptions",)),
        PhasesTask(target=TARGET, mode=Mode.HELD, call_path="stock", threads=2, rounds=2),
        CodeProbeTask(target=CODE, mode=Mode.HELD, call_path="stock", patches=("store-guard",)),
        ProfileTask(target=CODE, mode=Mode.RELEASED, call_path="stock", budget_s=0.5, rounds=2),
    )
}  # fmt: skip


def test_the_examples_cover_every_task_kind() -> None:
    assert set(EXAMPLES) == set(protocol.TASKS)
    assert all(type(EXAMPLES[k]) is protocol.TASKS[k] for k in EXAMPLES)


@pytest.mark.parametrize("kind", sorted(protocol.TASKS))
def test_every_task_kind_survives_the_wire(kind: str) -> None:
    task = EXAMPLES[kind]
    wire = json.loads(json.dumps(task.to_json()))  # as the child reads it: plain JSON
    assert wire["protocol"] == protocol.PROTOCOL and wire["kind"] == kind
    back = parse_task(wire)
    assert back == task
    assert type(back) is type(task)


def test_a_code_target_and_a_module_target_are_told_apart_on_the_wire() -> None:
    for target in (CODE, TARGET):
        task = RaceTask(
            target=target,
            mode=Mode.RELEASED,
            call_path="stock",
            threads=2,
            store="shared",
            guard=False,
            duration_s=1.0,
            patches=("store-guard",),
        )
        back = parse_task(json.loads(json.dumps(task.to_json())))
        assert back == task and type(back.target) is type(target)  # fmt: skip
        assert (back.code is not None) == isinstance(target, Code)


def test_none_fields_are_left_off_the_wire_and_read_back_as_none() -> None:
    task = CheckTask(check="results", mode=Mode.HELD, call_path="stock", threads=1, repeat=1)
    wire = task.to_json()
    assert "modules" not in wire
    assert parse_task(wire) == task


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({**EXAMPLES["race"].to_json(), "protocol": 2}, "unsupported protocol 2"),
        ({k: v for k, v in EXAMPLES["race"].to_json().items() if k != "protocol"},
         "unsupported protocol None"),
        ({**EXAMPLES["race"].to_json(), "kind": "nosuch"}, "unknown task kind 'nosuch'"),
        ({"protocol": protocol.PROTOCOL}, "unknown task kind None"),
        ([EXAMPLES["race"].to_json()], "a task is a JSON object"),
        ("race", "a task is a JSON object"),
        (None, "a task is a JSON object"),
    ],
)  # fmt: skip
def test_parse_task_refuses_what_is_not_a_task(data: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_task(data)


def test_the_harness_checks_are_the_workers_in_order() -> None:
    """verify validates --check names and orders its rows by CHECKS; the worker dispatches by
    CHECK_FUNCTIONS. A check added to one and not the other is a name refused or never run."""
    from gvlbench.worker.checks import CHECK_FUNCTIONS

    assert tuple(CHECK_FUNCTIONS) == CHECKS
