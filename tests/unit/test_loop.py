"""The one execution loop, driven by a fake executor (as hyperfine tests its scheduler): no
child runs. Every job is recorded in order, the results file is rewritten after each job, a
crash is a row and the loop goes on, and progress hears of every job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gvlbench.answers import ProgressAnswer
from gvlbench.harness.loop import Job, execute
from gvlbench.harness.runner import ChildOutcome
from gvlbench.protocol import Mode, ProgressTask, Target
from gvlbench.results import Results, load

TARGET = Target("/nowhere.wasm", "run", ())


def _job(label: str) -> Job:
    task = ProgressTask(target=TARGET, mode=Mode.HELD, call_path="stock", repeats=1)
    return Job(label, task, context={"scenario": label})


def _ok(value: int) -> ChildOutcome:
    return ChildOutcome("ok", 0, 0.1, answer=ProgressAnswer(via="tiny", samples=[],
                                                            checked_calls=value))  # fmt: skip


CRASHED = ChildOutcome("crashed", -6, 0.2, signal="SIGABRT", panic="stackwalk.rs:265",
                       stderr_tail=("thread panicked",))  # fmt: skip


class FakeExecutor:
    """Hands back canned outcomes in order; before each, runs `peek` (to look at the world as
    a real child would see it when it starts) and remembers which job it was given."""

    def __init__(self, outcomes: list[ChildOutcome], peek: Any = None):
        self.outcomes, self.peek, self.ran = list(outcomes), peek, []

    def run(self, job: Job) -> ChildOutcome:
        if self.peek:
            self.peek(job)
        self.ran.append(job.label)
        return self.outcomes.pop(0)


class TinyExperiment:
    """Records an answer's value as a progress row, anything else as a failure row."""

    command = "tiny"

    def __init__(self, labels: list[str]):
        self.labels = labels
        self.recorded: list[tuple[str, str]] = []

    def metadata(self) -> dict[str, Any]:
        return {"experiment": "tiny", "shared": "from the experiment"}

    def plan(self) -> list[Job]:
        return [_job(label) for label in self.labels]

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        self.recorded.append((job.label, outcome.status))
        if outcome.ok:
            answer = outcome.answer_as(ProgressAnswer)
            row = {**job.context, "mode": "held", "via": answer.via, "samples": answer.samples}
            results.add_progress({**row, "value": answer.checked_calls})
            return None
        results.add_failure({**job.context, "kind": "tiny"}, outcome.to_json())
        return f"{job.label}: {outcome.describe()}"


class RecordingProgress:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def expect(self, jobs: int) -> None:
        self.events.append(("expect", jobs))

    def start(self, label: str) -> None:
        self.events.append(("start", label))

    def done(self, problem: str | None = None) -> None:
        self.events.append(("done", problem))


def test_every_job_runs_and_is_recorded_in_plan_order() -> None:
    experiment = TinyExperiment(["a", "b", "c"])
    executor = FakeExecutor([_ok(1), _ok(2), _ok(3)])
    res = execute(experiment, executor=executor)
    assert executor.ran == ["a", "b", "c"]
    assert experiment.recorded == [("a", "ok"), ("b", "ok"), ("c", "ok")]
    assert [(p["scenario"], p["value"]) for p in res.progress] == [("a", 1), ("b", 2), ("c", 3)]
    assert res.command == "tiny" and res.metadata["experiment"] == "tiny"


def test_the_results_file_is_rewritten_after_every_job(tmp_path: Path) -> None:
    """What a crash of the harness would leave behind: every job finished so far."""
    out = tmp_path / "results.json"
    seen: dict[str, list[str]] = {}

    def peek(job: Job) -> None:
        seen[job.label] = [p["scenario"] for p in load(out).progress] if out.exists() else []

    experiment = TinyExperiment(["a", "b", "c"])
    res = execute(experiment, output=out, executor=FakeExecutor([_ok(1), _ok(2), _ok(3)], peek))
    assert seen == {"a": [], "b": ["a"], "c": ["a", "b"]}
    assert load(out).to_json() == res.to_json()


def test_a_crashed_child_is_a_failure_row_and_the_loop_goes_on(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    progress = RecordingProgress()
    experiment = TinyExperiment(["a", "b", "c"])
    res = execute(experiment, output=out, progress=progress,
                  executor=FakeExecutor([_ok(1), CRASHED, _ok(3)]))  # fmt: skip
    assert experiment.recorded == [("a", "ok"), ("b", "crashed"), ("c", "ok")]
    assert [p["scenario"] for p in res.progress] == ["a", "c"]
    (failure,) = json.loads(out.read_text())["gvlbench"]["failures"]
    assert failure["scenario"] == "b" and failure["status"] == "crashed"
    assert failure["signal"] == "SIGABRT" and failure["panic"] == "stackwalk.rs:265"
    assert progress.events == [
        ("start", "a"), ("done", None),
        ("start", "b"), ("done", "b: crashed (SIGABRT, panic at stackwalk.rs:265)"),
        ("start", "c"), ("done", None),
    ]  # fmt: skip


def test_given_jobs_and_a_started_document_are_used_as_they_are() -> None:
    """The gate plans every part first, then runs each into one document."""
    experiment = TinyExperiment(["never planned"])
    started = Results({"shared": "from the document"}, "gate")
    res = execute(experiment, started, jobs=[_job("x")], executor=FakeExecutor([_ok(7)]))
    assert res is started and res.command == "gate"
    assert [p["scenario"] for p in res.progress] == ["x"]
    assert res.metadata == {"experiment": "tiny", "shared": "from the document"}


def test_no_jobs_run_no_child_and_write_no_file(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    res = execute(TinyExperiment([]), output=out, executor=FakeExecutor([]))
    assert res.progress == [] and not out.exists()
