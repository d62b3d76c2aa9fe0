"""The one execution loop: plan -> child -> classify -> record -> atomic write -> progress.

Every experiment (run, race, verify, sweep, calls, guard cost, and the gate that strings them
together) is its plan, a list of `Job`s, and how it records a child's answer into a `Results`
document. This loop is the only code that runs children: it starts each job through an
`Executor` (real child processes by default; a fake one in unit tests, as hyperfine tests its
scheduler), hands the outcome to the experiment, rewrites the results file atomically after
every job (so a crash, a hang or a Ctrl-C of the harness never loses what was measured), and
reports progress.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gvlbench.files import reported_later
from gvlbench.harness.interpreter import Runtime
from gvlbench.harness.runner import ChildOutcome, run_child, worker_argv
from gvlbench.protocol import Task
from gvlbench.results import Results, write_results


@dataclass(frozen=True)
class Job:
    """One child's work: a task, the runtime to run it under, and how long it may take.
    `context` is the experiment's own note about the job, handed back to its `record`."""

    label: str
    task: Task
    runtime: Runtime | None = None  # None: the harness's own interpreter
    timeout_s: float = 300.0
    context: Any = None


class Executor(Protocol):
    """Runs one job to its end and says how it ended; never raises for the child's failures."""

    def run(self, job: Job) -> ChildOutcome: ...


class ChildExecutor:
    """The real executor: a fresh child process per job (see runner.py)."""

    def run(self, job: Job) -> ChildOutcome:
        runtime = job.runtime
        argv, env = (runtime.argv(), runtime.env()) if runtime else (worker_argv(), None)
        return run_child(argv, job.task.to_json(), job.timeout_s, env=env)


class Experiment(Protocol):
    """What an experiment supplies to the loop."""

    command: str

    def metadata(self) -> dict[str, Any]:
        """What every row of the document shares (the harness's side of pyperf's metadata)."""
        ...

    def plan(self) -> Sequence[Job]:
        """Every job, in order. Bad input fails here, before any child runs."""
        ...

    def record(self, results: Results, job: Job, outcome: ChildOutcome) -> str | None:
        """Add the outcome to `results`; return a one-line problem to show, or None."""
        ...

    # Optional: `followups(job, outcome) -> Sequence[Job]`, jobs to run next because of how
    # this one ended (run splits a failed paired child into one child per mode);
    # `not_applicable() -> list[dict]`, the rows its bindings cannot give, with their reasons
    # (results' `not_applicable` section: shown as N/A, never measured); and `executor`, the
    # executor its own children (a code probe) run through, which `execute` then uses too;
    # `timeline`, a harness.timeline.TimelineFile rewritten after every job like the results.


class Progress(Protocol):
    """What the loop tells a progress display (the CLI's rich bar; nothing in tests)."""

    def expect(self, jobs: int) -> None:
        """`jobs` more jobs are coming (a composite like the gate plans in parts)."""
        ...

    def start(self, label: str) -> None: ...

    def done(self, problem: str | None = None) -> None: ...


class NoProgress:
    def expect(self, jobs: int) -> None:
        pass

    def start(self, label: str) -> None:
        pass

    def done(self, problem: str | None = None) -> None:
        pass


def new_results(experiment: Experiment) -> Results:
    return Results(metadata=experiment.metadata(), command=experiment.command)


def execute(
    experiment: Experiment,
    results: Results | None = None,
    *,
    output: Path | None = None,
    progress: Progress | None = None,
    executor: Executor | None = None,
    jobs: Sequence[Job] | None = None,
) -> Results:
    """Run `jobs` (default: the experiment's plan) into `results` (default: a new document;
    a document another experiment started keeps its own metadata keys)."""
    executor = executor or getattr(experiment, "executor", None) or ChildExecutor()
    jobs = experiment.plan() if jobs is None else jobs
    progress = progress or NoProgress()
    if results is None:
        results = new_results(experiment)
    else:
        results.metadata = {**experiment.metadata(), **results.metadata}
    results.not_applicable.extend(getattr(experiment, "not_applicable", _no_rows)())
    if output is not None and results.not_applicable:
        write_results(output, results)
    queue = deque(jobs)
    while queue:
        job = queue.popleft()
        progress.start(job.label)
        outcome = executor.run(job)
        problem = experiment.record(results, job, outcome)
        if output is not None:  # a failure is said at the end; measuring goes on
            with reported_later(output, "results"):
                write_results(output, results)
        timeline = getattr(experiment, "timeline", None)  # --timeline: its file, likewise
        if timeline is not None:
            with reported_later(timeline.path, "the timeline"):
                timeline.write()
        progress.done(problem)
        again = list(getattr(experiment, "followups", _none)(job, outcome))
        if again:  # e.g. a paired child that hung: each of its modes alone, so one survives
            progress.expect(len(again))
            queue.extendleft(reversed(again))
    return results


def _none(job: Job, outcome: ChildOutcome) -> Sequence[Job]:
    return ()


def _no_rows() -> list[dict[str, Any]]:
    return []
