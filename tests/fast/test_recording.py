"""The loop and every experiment's recording, on the fake executor: each typed answer lands in
its results section, the file reads back equal, and a child that did not answer is a row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gvlbench import scenario
from gvlbench.bindings import fake
from gvlbench.harness.calls import CallsExperiment, CallsOptions
from gvlbench.harness.fake import FakeExecutor
from gvlbench.harness.guard_cost import GuardCostExperiment
from gvlbench.harness.legal_uses import LegalUsesExperiment
from gvlbench.harness.loop import Job, execute
from gvlbench.harness.profile import ProfileExperiment, ProfileOptions
from gvlbench.harness.race import RaceConfig, RaceExperiment, RaceOptions
from gvlbench.harness.run import RunExperiment, RunOptions
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.sweep import SweepExperiment, SweepOptions
from gvlbench.harness.verify import VerifyExperiment, VerifyOptions
from gvlbench.modes import Mode
from gvlbench.protocol import CallPath, Code
from gvlbench.report import calls, stats, sweep
from gvlbench.report.guard_cost import guard_cost_rows
from gvlbench.report.profile import summaries
from gvlbench.report.race import summarize
from gvlbench.results import load

HELD, RELEASED = Mode.HELD, Mode.RELEASED
HUNG = ChildOutcome("hung", None, 9.0)


def run_doc(runtime: fake.FakeRuntime, path: Path | None = None, **kw: object):
    opts = RunOptions(scenario.find("spin"), 2, runtimes=(runtime,), rounds=3,
                      progress_repeats=2)  # fmt: skip
    return execute(RunExperiment(opts, executor=FakeExecutor(**kw)), output=path)  # type: ignore[arg-type]


def test_a_run_records_every_cell_and_its_file_reads_back_equal(declare, runtime, tmp_path):
    declare(fake.lacking(HELD))
    path = tmp_path / "run.json"
    res = run_doc(runtime, path)
    names = sorted(b["metadata"]["name"] for b in res.benchmarks)
    assert names == ["spin/mode=released/threads=1/fake=1.0",
                     "spin/mode=released/threads=2/fake=1.0"]  # fmt: skip
    (row,) = res.speedup
    assert set(row["cells"]) == {(RELEASED, 1), (RELEASED, 2)}  # tuples in code
    on_disk = json.loads(path.read_text())["gvlbench"]["speedup"][0]["cells"]
    assert set(on_disk) == {"released/1", "released/2"}  # "mode/threads" in the file only
    assert load(path) == res
    speedups = {(r.mode, r.threads): r.speedup for r in stats.speedup_rows(res)}
    assert speedups == {("released", 1): 1.0, ("released", 2): pytest.approx(2.0)}
    assert [(p["mode"], p["samples"][0]["ratio"]) for p in res.progress] == [("released", 1.0)]
    assert [(p["mode"], p["threads"]) for p in res.phases] == [("released", 1), ("released", 2)]
    assert [r["what"] for r in res.not_applicable] == ["mode held"]
    assert res.metadata["interpreter"] == "fake1.0" and res.failures == []


def test_a_held_lock_serialises_in_the_recorded_speedup(declare, runtime):
    declare(fake.FULL)
    rows = {(r.mode, r.threads): r for r in stats.speedup_rows(run_doc(runtime))}
    assert rows[("held", 2)].speedup == pytest.approx(1.0)
    assert rows[("released", 2)].speedup == pytest.approx(2.0)
    progress = {r.mode: r.ratio_median for r in stats.progress_rows(run_doc(runtime))}
    assert progress == {"held": 0.0, "released": 1.0}


def test_a_paired_child_that_hangs_is_measured_mode_by_mode(declare, runtime):
    """The paired child hangs, so each mode runs alone; held hangs again and its cells are
    failure rows, released is measured."""
    declare(fake.FULL)

    def hang(job: Job) -> ChildOutcome | None:
        step = job.context
        return HUNG if step.kind == "speedup" and HELD in step.modes else None

    res = run_doc(runtime, fail=hang)
    assert sorted(set(row["cells"]) for row in res.speedup) == [{(RELEASED, 1), (RELEASED, 2)}]
    failed = sorted((f["mode"], f["threads"], f["status"]) for f in res.failures)
    assert failed == [("held", 1, "hung"), ("held", 2, "hung")]
    rows = {(r.mode, r.threads): r.status for r in stats.speedup_rows(res)}
    assert rows[("held", 2)] == "hung (killed after 9 s)" and rows[("released", 2)] == "ok"


def test_race_trials_are_classified_from_their_typed_answers(declare, runtime):
    declare(fake.lacking(HELD))
    configs = (
        RaceConfig("shared", False, RELEASED),
        RaceConfig("shared", True, RELEASED),
        RaceConfig("per-thread", False, RELEASED),
        RaceConfig("shared", False, HELD),
    )
    opts = RaceOptions(scenario.find("spin"), configs, threads=2, trials=2, duration_s=0.1,
                       runtimes=(runtime,))  # fmt: skip
    res = execute(RaceExperiment(opts, executor=FakeExecutor()))
    statuses = {r.config: (r.raised, r.survived, r.refused) for r in summarize(res.race)}
    assert statuses == {
        "shared, released, fake1.0": (2, 0, 0),
        "shared, released, guard, fake1.0": (0, 2, 20),
        "per-thread, released, fake1.0": (0, 2, 0),
    }
    assert [r["what"] for r in res.not_applicable] == ["shared, held"]


def test_profile_records_the_probed_binding_and_its_na_rows(declare):
    declare(fake.lacking(HELD))
    opts = ProfileOptions(Code("f()", ("def f(): return 1",)), rounds=2)
    res = execute(ProfileExperiment(opts, FakeExecutor(binding_calls={"fake": 1})))
    assert res.metadata["binding"] == "fake" and "wasmtime_version" not in res.metadata
    (summary,) = summaries(res)
    assert summary.mode == "released" and summary.progress == 1.0
    assert [r["what"] for r in res.not_applicable] == ["mode held"]


def test_verify_guard_cost_legal_uses_calls_and_sweep_record_their_rows(declare, runtime):
    declare(fake.FULL)
    executor = FakeExecutor(guard_ns=7.0)
    checks = execute(
        VerifyExperiment(VerifyOptions(checks=("trap", "results"), repeat=2, runtimes=(runtime,))),
        executor=executor,
    )
    assert {(v["check"], v["mode"], v["status"]) for v in checks.verify} == {
        (c, m, "PASS") for c in ("trap", "results") for m in ("held", "released")
    }
    cost = execute(GuardCostExperiment((CallPath.STOCK,), (RELEASED,), rounds=2,
                                       entries=("call",), guards=("python",), processes=1),
                   executor=executor)  # fmt: skip
    assert {(r.scenario, r.guard("python").cost_ns) for r in guard_cost_rows(cost)} == {
        ("nop", 7.0),
        ("add", 7.0),
    }
    legal = execute(LegalUsesExperiment(guards=("python",)), executor=executor)
    assert {(u["design"], u["use"], u["outcome"]) for u in legal.legal_uses} == {
        (d, u, "admitted") for d in ("none", "python") for u in ("move", "reentry")
    }
    per_call = execute(
        CallsExperiment(CallsOptions(scenarios=("nop",), rounds=3)), executor=executor
    )
    rows = {(r.path, r.mode): r for r in calls.call_rows(per_call)}
    assert rows[("lean", "released")].over_raw == pytest.approx(1.5)  # the fake's path costs
    assert rows[("stock", "held")].over_lean == pytest.approx(4 / 3)
    points = execute(SweepExperiment(SweepOptions(scenario.find("spin"), sizes=(1000, 9000),
                                                  paths=(CallPath.LEAN,), rounds=3)),
                     executor=executor)  # fmt: skip
    assert [(r.size, r.gain, r.pays) for r in sweep.sweep_rows(points)] == [
        (1000, pytest.approx(2.0), True),
        (9000, pytest.approx(2.0), True),
    ]


def test_a_statements_guard_cost_is_probed_and_recorded_through_the_same_executor(declare):
    declare(fake.FULL)
    executor = FakeExecutor(guard_ns=3.0)
    experiment = GuardCostExperiment((CallPath.STOCK,), (RELEASED,), rounds=2, entries=(),
                                     guards=("python",), code=Code("f()", ("def f(): pass",)),
                                     name="mine", executor=executor)  # fmt: skip
    res = execute(experiment)
    assert [j.label for j in executor.ran] == ["probing the code", "guard cost: mine"]
    (row,) = res.guard_cost
    assert row["entry"] == "code" and row["entries"] == {"wasmtime_func_call": 1}
    (cost,) = guard_cost_rows(res)
    assert cost.guard("python").cost_ns == 3.0
