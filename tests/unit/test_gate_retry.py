"""The gate's retries: a timing failure counts only if it reproduces. `measure` is replaced by
a fake that hands back canned documents, so no child runs; what is under test is which
scenarios are measured again, how their rows replace the old ones, and the notes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gvlbench.harness import gate as harness_gate
from gvlbench.harness.gate import _attempted, _replace, measure_and_judge
from gvlbench.report.gate import GateConfig, Rule
from gvlbench.results import Results, pyperf_benchmark

GOOD, BAD = 0.95, 0.0  # released overlap: side by side, serialised


def _doc(overlaps: dict[str, float], tag: str = "-") -> Results:
    """A document with held and released progress rows per scenario (released overlap as
    given, held serialised), a benchmark and a failure-free state; `tag` marks the rows."""
    res = Results({"usable_cpus": 2, "wasmtime_version": "50.0.1", "from": tag}, "gate")
    for name, overlap in overlaps.items():
        for mode, value in (("released", overlap), ("held", 0.0)):
            res.add_progress({"scenario": name, "mode": mode, "via": "host mark", "tag": tag,
                              "samples": [{"ratio": 0.9 if mode == "released" else 0.01,
                                           "call_s": 0.1, "rate_alone_per_s": 1e7}],
                              "overlap": [value] * 3, "overlap_threads": 2})  # fmt: skip
        md = {"scenario": name, "mode": "held", "threads": 1, "tag": tag,
              "name": f"{name}/mode=held/threads=1"}  # fmt: skip
        res.add_benchmark(pyperf_benchmark(md, [0.1, 0.1, 0.1], loops=1))
    return res


class FakeMeasure:
    """Stands in for harness.gate.measure: each call takes the next canned document."""

    def __init__(self, *docs: Results):
        self.docs = list(docs)
        self.calls: list[tuple[tuple[str, ...], bool]] = []

    def __call__(self, cfg: GateConfig, scenarios: tuple[str, ...], full: bool,
                 progress: Any = None, pythons: tuple[str, ...] = ()) -> Results:  # fmt: skip
        self.calls.append((scenarios, full))
        return self.docs.pop(0)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch):
    def install(*docs: Results) -> FakeMeasure:
        fake = FakeMeasure(*docs)
        monkeypatch.setattr(harness_gate, "measure", fake)
        return fake

    return install


def _rule(rules: list[Rule], rule: str, row: str) -> Rule:
    (found,) = [r for r in rules if r.rule == rule and r.row == row]
    return found


CFG = GateConfig(scenarios=("a", "b"), confirm_runs=1)
A_OVERLAPS = ("released overlaps", "a/mode=released/threads=2")
B_OVERLAPS = ("released overlaps", "b/mode=released/threads=2")


def test_a_failure_that_does_not_reproduce_passes_with_a_note(fake) -> None:
    measure = fake(_doc({"a": BAD, "b": GOOD}, "first"), _doc({"a": GOOD}, "again"))
    current, rules = measure_and_judge(CFG, None)
    assert measure.calls == [(("a", "b"), True), (("a",), False)]  # only a, only timing
    a, b = _rule(rules, *A_OVERLAPS), _rule(rules, *B_OVERLAPS)
    assert (a.verdict, a.why) == ("pass", "passed on attempt 2 (an earlier one failed)")
    assert (b.verdict, b.why) == ("pass", "")  # not measured again: no note
    assert not [r for r in rules if r.verdict == "fail"]
    tags = {(p["scenario"], p["tag"]) for p in current.progress}
    assert tags == {("a", "again"), ("b", "first")}
    assert current.metadata["from"] == "first"  # the first document's metadata stays


def test_a_failure_that_reproduces_in_every_attempt_fails(fake) -> None:
    cfg = replace(CFG, confirm_runs=2)
    measure = fake(_doc({"a": BAD, "b": GOOD}), _doc({"a": BAD}), _doc({"a": BAD}, "last"))
    current, rules = measure_and_judge(cfg, None)
    assert measure.calls == [(("a", "b"), True), (("a",), False), (("a",), False)]
    a = _rule(rules, *A_OVERLAPS)
    assert (a.verdict, a.why) == ("fail", "failed on all 3 attempts")
    assert [p["tag"] for p in current.progress if p["scenario"] == "a"] == ["last", "last"]
    assert len([b for b in current.benchmarks if b["metadata"]["scenario"] == "a"]) == 1


def _staggered(fake) -> list[Rule]:
    """a fails once, b twice; up to three further attempts allowed."""
    measure = fake(_doc({"a": BAD, "b": BAD}), _doc({"a": GOOD, "b": BAD}), _doc({"b": GOOD}))
    _, rules = measure_and_judge(replace(CFG, confirm_runs=3), None)
    assert measure.calls == [(("a", "b"), True), (("a", "b"), False), (("b",), False)]
    return rules


def test_each_scenario_is_retried_until_it_passes(fake) -> None:
    rules = _staggered(fake)
    assert _rule(rules, *A_OVERLAPS).verdict == "pass"
    assert _rule(rules, *B_OVERLAPS).why == "passed on attempt 3 (an earlier one failed)"


def test_a_scenario_that_passed_on_an_earlier_retry_keeps_its_note(fake) -> None:
    rules = _staggered(fake)
    assert _rule(rules, *A_OVERLAPS).why == "passed on attempt 2 (an earlier one failed)"


@pytest.mark.parametrize("confirm_runs", [0, 1])
def test_no_retry_without_a_timing_failure_or_without_confirm_runs(fake, confirm_runs) -> None:
    cfg = replace(CFG, confirm_runs=confirm_runs)
    measure = fake(_doc({"a": GOOD, "b": GOOD}))
    measure_and_judge(cfg, None)
    assert measure.calls == [(("a", "b"), True)]
    if confirm_runs == 0:
        measure = fake(_doc({"a": BAD, "b": GOOD}))
        _, rules = measure_and_judge(cfg, None)
        assert measure.calls == [(("a", "b"), True)]
        assert (_rule(rules, *A_OVERLAPS).verdict, _rule(rules, *A_OVERLAPS).why) == ("fail", "")


def test_a_race_failure_is_not_retried(fake) -> None:
    doc = _doc({"a": GOOD, "b": GOOD})
    doc.race = [{"config": "shared, released", "trial_status": "survived", "after_start_s": None,
                 "duration_s": 1.0, "exceptions": {}, "refused": 0, "calls": 10}]  # fmt: skip
    measure = fake(doc)
    _, rules = measure_and_judge(CFG, None)
    assert measure.calls == [(("a", "b"), True)]
    assert _rule(rules, "the shared-Store hazard reproduces", "shared, released").verdict == "fail"


def test_timing_rules_name_their_scenario_so_no_row_is_parsed_back() -> None:
    from gvlbench.report.gate import TIMING_RULES, judge

    rules = judge(CFG, _doc({"a": GOOD, "b": BAD}), None)
    timing = [r for r in rules if r.rule in TIMING_RULES]
    assert timing and all(r.scenario in ("a", "b") for r in timing)
    assert {r.scenario for r in timing if r.verdict == "fail"} == {"b"}


def test_replace_swaps_only_the_named_scenarios_timing_rows() -> None:
    current = _doc({"a": BAD, "b": GOOD}, "old")
    current.failures = [{"scenario": "a", "kind": "bench"}, {"scenario": "b", "kind": "bench"}]
    current.race, current.verify = [{"config": "kept"}], [{"check": "kept"}]
    current.pool, current.guard_cost = [{"pool": "kept"}], [{"cost": "kept"}]
    again = _doc({"a": GOOD}, "new")
    again.failures = [{"scenario": "a", "kind": "progress"}]
    out = _replace(current, again, {"a"})
    assert sorted((p["scenario"], p["tag"]) for p in out.progress) == [
        ("a", "new"), ("a", "new"), ("b", "old"), ("b", "old")]  # fmt: skip
    assert sorted((b["metadata"]["scenario"], b["metadata"]["tag"]) for b in out.benchmarks) == [
        ("a", "new"), ("b", "old")]  # fmt: skip
    assert sorted((f["scenario"], f["kind"]) for f in out.failures) == [
        ("a", "progress"), ("b", "bench")]  # fmt: skip
    assert (out.race, out.verify) == ([{"config": "kept"}], [{"check": "kept"}])
    assert (out.pool, out.guard_cost) == ([{"pool": "kept"}], [{"cost": "kept"}])
    assert out.metadata == current.metadata and out.command == "gate"


def test_attempted_notes_only_timing_rules_of_redone_scenarios() -> None:
    failing = Rule("released overlaps", "a/mode=released/threads=2", "0.00", ">= 0.7", "fail",
                   scenario="a")  # fmt: skip
    passing = replace(failing, value="0.95", verdict="pass")
    assert _attempted(failing, {"a": 3}).why == "failed on all 3 attempts"
    assert _attempted(passing, {"a": 2}).why == "passed on attempt 2 (an earlier one failed)"
    assert _attempted(failing, {"b": 2}) == failing  # another scenario was redone
    race = Rule("the shared-Store hazard reproduces", "a", "0 crashed of 2", ">= 1", "fail")
    assert _attempted(race, {"a": 2}) == race  # not a timing rule
