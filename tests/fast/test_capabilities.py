"""What the planner makes of a binding's declared capabilities: which steps it plans, which
rows become `N/A` and with what reason, and what is refused up front in one line. The binding
is the fake one, declared per test; nothing runs (plans only; recording: test_recording.py)."""

from __future__ import annotations

import re

import pytest

from gvlbench import scenario
from gvlbench.bindings import Feature, fake
from gvlbench.errors import OptionError
from gvlbench.harness.fake import FakeExecutor
from gvlbench.harness.profile import ProfileExperiment, ProfileOptions
from gvlbench.harness.race import RaceConfig, RaceExperiment, RaceOptions
from gvlbench.harness.run import RunOptions, not_applicable, plan
from gvlbench.harness.verify import VerifyExperiment, VerifyOptions
from gvlbench.modes import Mode
from gvlbench.protocol import Code

HELD, RELEASED, SHIPPED, FREE = Mode.HELD, Mode.RELEASED, Mode.AS_SHIPPED, Mode.FREE_THREADED
CODE = Code("f()", ("def f(): return 1",))


def _run(runtime: fake.FakeRuntime, **opts: object) -> RunOptions:
    return RunOptions(scenario.find("spin"), 2, runtimes=(runtime,), **opts)  # type: ignore[arg-type]


def _kinds(steps: list) -> list[tuple[str, str, int]]:
    return [(s.kind, "+".join(map(str, s.modes)) or str(s.mode), s.threads) for s in steps]


def test_a_binding_with_everything_pairs_both_modes_then_progress_then_phases(declare, runtime):
    declare(fake.FULL)
    assert _kinds(plan(_run(runtime))) == [
        ("speedup", "held+released", 2),
        ("progress", "held", 1), ("progress", "released", 1),
        ("phases", "held", 1), ("phases", "released", 1),
        ("phases", "held", 2), ("phases", "released", 2),
    ]  # fmt: skip
    assert not_applicable(_run(runtime)) == []


def test_a_binding_that_cannot_hold_has_no_held_step_and_an_na_row_saying_why(declare, runtime):
    declare(fake.lacking(HELD))
    steps = plan(_run(runtime))
    assert HELD not in {s.mode for s in steps} | {m for s in steps for m in s.modes}
    (row,) = not_applicable(_run(runtime))
    assert row == {"scenario": "spin", "command": "run", "binding": "fake",
                   "interpreter": "fake1.0", "what": "mode held",
                   "reason": "the fake binding was declared without held"}  # fmt: skip


def test_released_is_measured_as_shipped_where_the_binding_cannot_set_the_lock(declare, runtime):
    """A binding with no handle on the lock (a compiled extension's) runs as it ships: the
    row is `as-shipped`, measured, never labelled released."""
    declare(fake.lacking(HELD, RELEASED))
    assert _kinds(plan(_run(runtime, phases=False))) == [
        ("speedup", "as-shipped", 2), ("progress", "as-shipped", 1)]  # fmt: skip
    assert [r["what"] for r in not_applicable(_run(runtime))] == ["mode held"]


def test_a_binding_that_cannot_pair_gets_one_benchmark_per_cell(declare, runtime):
    declare(fake.lacking(Feature.SPEEDUP, Feature.PHASES))
    assert _kinds(plan(_run(runtime, progress_repeats=0))) == [
        ("bench", "held", 1), ("bench", "released", 1),
        ("bench", "held", 2), ("bench", "released", 2)]  # fmt: skip


def test_a_binding_without_phases_is_not_asked_for_them(declare, runtime):
    declare(fake.lacking(Feature.PHASES))
    assert {s.kind for s in plan(_run(runtime))} == {"speedup", "progress"}


def test_a_free_threaded_runtime_has_one_mode_and_held_alone_is_refused(declare):
    declare(fake.FULL)
    ft = fake.FakeRuntime(gil="disabled")
    assert {m for s in plan(_run(ft)) for m in (*s.modes, s.mode)} == {FREE}
    with pytest.raises(OptionError, match=r"measures nothing on fake1\.0t"):
        _run(ft, modes=(HELD,))


@pytest.mark.parametrize(
    ("lacks", "opts", "needle"),
    [
        (Feature.PATCHES, {"patches": ("store-guard",)},
         "--patch: the fake binding was declared without patches"),
        (Feature.POOL, {"pool": True}, "--mode processes: the fake binding was declared without"),
        ("lean", {"call_path": "lean"}, "--call-path lean is not a path of the fake binding"),
        (Feature.WASI, {}, "the fake binding was declared without wasi"),
    ],
)  # fmt: skip
def test_what_a_binding_lacks_and_was_asked_for_by_name_is_one_line(
    declare, runtime, lacks, opts, needle
):
    """Asked for explicitly, a missing capability is bad input before anything runs, not an
    N/A row: the user named something this binding cannot do."""
    declare(fake.lacking(lacks))
    spec = scenario.find("wasi_spin" if lacks is Feature.WASI else "spin")
    with pytest.raises(OptionError, match=re.escape(needle)):
        RunOptions(spec, 2, runtimes=(runtime,), **opts)  # type: ignore[arg-type]


def _race(runtime: fake.FakeRuntime, *configs: RaceConfig) -> RaceExperiment:
    opts = RaceOptions(scenario.find("spin"), configs, threads=2, trials=1, duration_s=0.1,
                       runtimes=(runtime,))  # fmt: skip
    return RaceExperiment(opts, executor=FakeExecutor())


SHARED = RaceConfig("shared", False, RELEASED)
GUARDED = RaceConfig("shared", True, RELEASED)
PER_THREAD = RaceConfig("per-thread", False, RELEASED)
SHARED_HELD = RaceConfig("shared", False, HELD)


def test_race_drops_the_configurations_a_binding_cannot_run_and_says_why(declare, runtime):
    declare(fake.lacking(HELD, Feature.GUARD))
    race = _race(runtime, SHARED, GUARDED, PER_THREAD, SHARED_HELD)
    assert race.configs(runtime) == [SHARED, PER_THREAD]
    assert [(r["what"], r["reason"]) for r in race.not_applicable()] == [
        ("shared, released, guard", "the fake binding was declared without guard"),
        ("shared, held", "the fake binding was declared without held"),
    ]
    assert [j.label for j in race.plan()] == ["shared, released: trial 1/1",
                                              "per-thread, released: trial 1/1"]  # fmt: skip


def test_race_on_a_binding_that_runs_as_shipped_races_that_mode(declare, runtime):
    declare(fake.lacking(HELD, RELEASED, Feature.GUARD))
    race = _race(runtime, SHARED, GUARDED)
    assert race.configs(runtime) == [RaceConfig("shared", False, SHIPPED)]
    assert [r["what"] for r in race.not_applicable()] == ["shared, released, guard"]


def test_profile_lists_what_the_probed_binding_cannot_give(declare):
    """The probe (answered by the fake executor) names the binding the statement called
    through; its missing modes and patches become N/A rows, and only the rest is profiled."""
    declare(fake.lacking(HELD, Feature.PATCHES))
    executor = FakeExecutor(binding_calls={"fake": 3})
    profile = ProfileExperiment(ProfileOptions(CODE, patches=("store-guard",)), executor)
    assert [(r["what"], r["binding"], r["reason"]) for r in profile.not_applicable()] == [
        ("mode held", "fake", "the fake binding was declared without held"),
        ("patch store-guard", "fake", "the fake binding was declared without patches"),
    ]
    assert [(j.task.mode, j.task.patches) for j in profile.plan()] == [(RELEASED, ())]
    assert [j.label for j in executor.ran] == ["probing the code"]


def test_verify_skips_the_binding_checks_a_binding_lacks(declare, runtime):
    declare(fake.lacking(Feature.BINDING_CHECKS))
    opts = VerifyOptions(checks=("trap", "exception-handoff"), modes=(HELD,), runtimes=(runtime,))
    assert [j.task.check for j in VerifyExperiment(opts).plan()] == ["trap"]
    with pytest.raises(OptionError, match="--check exception-handoff: the fake binding was"):
        VerifyOptions(checks=("exception-handoff",), runtimes=(runtime,))
