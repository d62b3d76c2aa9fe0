"""The tables, rendered to text from documents the fake executor filled: what a user reads
for each capability rule (a measured row, an N/A row and its reason, a failure line)."""

from __future__ import annotations

import re

from gvlbench import scenario
from gvlbench.bindings import Feature, fake
from gvlbench.harness.fake import FakeExecutor
from gvlbench.harness.loop import execute
from gvlbench.harness.profile import ProfileExperiment, ProfileOptions
from gvlbench.harness.race import RaceConfig, RaceExperiment, RaceOptions
from gvlbench.harness.runner import ChildOutcome
from gvlbench.harness.verify import VerifyExperiment, VerifyOptions
from gvlbench.modes import Mode
from gvlbench.protocol import Code
from gvlbench.report import profile, render
from tests.fast.conftest import text
from tests.fast.test_recording import run_doc


def _row(out: str, *cells: str) -> bool:
    """Whether a table line holds these cells in this order."""
    pattern = r"\s*│\s*".join(re.escape(c) for c in cells)
    return any(re.search(pattern, line) for line in out.splitlines())


def test_run_shows_measured_rows_and_what_the_binding_cannot_give(declare, runtime, shown):
    declare(fake.lacking(Mode.HELD))
    out = shown(run_doc(runtime))
    assert "Parallel speedup: spin" in out and "Sibling progress during the call" in out
    assert _row(out, "fake1.0", "released", "2") and "2.00" in out
    assert not _row(out, "fake1.0", "held")  # no measured held row ...
    assert "Not applicable here" in out  # ... but an N/A row, with the binding's reason
    assert _row(out, "mode held", "fake", "fake1.0", "the fake binding was declared without held")


def test_a_crash_is_a_line_under_the_tables_not_a_lost_row(declare, runtime, shown):
    declare(fake.FULL)
    crash = ChildOutcome("crashed", -11, 0.1, signal="SIGSEGV")
    out = shown(run_doc(runtime, fail=lambda job: crash if job.task.kind == "progress" else None))
    assert "crashed (SIGSEGV)" in out and _row(out, "fake1.0", "held", "2")


def test_race_shows_each_configuration_and_the_guard_it_could_not_run(declare, runtime, shown):
    declare(fake.lacking(Feature.GUARD))
    configs = (
        RaceConfig("shared", False, Mode.RELEASED),
        RaceConfig("shared", True, Mode.RELEASED),
    )
    opts = RaceOptions(scenario.find("spin"), configs, threads=2, trials=1, duration_s=0.1,
                       runtimes=(runtime,))  # fmt: skip
    out = shown(execute(RaceExperiment(opts, executor=FakeExecutor())))
    assert _row(out, "shared, released, fake1.0") and "Trap" in out
    assert _row(out, "shared, released, guard", "fake", "fake1.0",
                "the fake binding was declared without guard")  # fmt: skip


def test_profile_and_verify_tables(declare, runtime):
    declare(fake.lacking(Mode.HELD))
    opts = ProfileOptions(Code("f()", ("def f(): return 1",)), rounds=2)
    res = execute(ProfileExperiment(opts, FakeExecutor(binding_calls={"fake": 1})))
    (summary,) = profile.summaries(res)
    out = text(profile.table(summary))
    assert "inside Wasm calls" in out and "released" in out
    verify = VerifyExperiment(VerifyOptions(checks=("trap",), modes=(Mode.RELEASED,),
                                            runtimes=(runtime,)))  # fmt: skip
    execute(verify, executor=FakeExecutor())
    assert _row(text(render.verify_table(verify.checked)), "trap", "released", "PASS")
