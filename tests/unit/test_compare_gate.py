"""Pure logic of compare and gate: Welch's verdicts, config validation, rule verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gvlbench.errors import ConfigError
from gvlbench.report import gate
from gvlbench.report.compare import welch
from gvlbench.results import Results


def test_welch_verdicts() -> None:
    a = [1.00, 1.01, 0.99, 1.00, 1.02]
    assert welch(a, a) == "same"
    assert welch(a, [v * 1.5 for v in a]) == "slower"
    assert welch(a, [v * 0.5 for v in a]) == "faster"
    assert welch(a, [1.0, 1.0]) == "unsure"  # too few values to tell
    assert welch(a, [1.00, 1.30, 0.80, 1.10, 0.90]) == "same"  # noisy: not significant


def test_gate_config_defaults_and_validation(tmp_path: Path) -> None:
    good = tmp_path / "g.toml"
    good.write_text('[measure]\nscenarios = ["spin"]\nthreads = 4\n[tolerance]\noverlap_drop = 1\n')
    cfg = gate.load_config(good)
    assert cfg.scenarios == ("spin",) and cfg.threads == 4 and cfg.overlap_drop == 1.0
    assert cfg.held_overlap_max == gate.GateConfig().held_overlap_max
    for body, needle in (("[measure]\nbogus = 1\n", "unknown key measure.bogus"),
                         ("[nope]\n", "unknown section"),
                         ('[measure]\nthreads = "2"\n', "must be an integer"),
                         ("[measure]\nscenarios = [1]\n", "list of names"),
                         ("[[", "not valid TOML")):  # fmt: skip
        bad = tmp_path / "bad.toml"
        bad.write_text(body)
        with pytest.raises(ConfigError, match=needle):
            gate.load_config(bad)


def test_shipped_gate_configs_load() -> None:
    root = Path(__file__).resolve().parents[2]
    for name in ("gate.toml", "gate-ci.toml"):
        gate.load_config(root / name)


def _bench(mode: str, threads: int, value: float) -> dict:
    md = {"name": f"s/mode={mode}/threads={threads}", "unit": "second", "scenario": "s",
          "mode": mode, "threads": threads, "loops": 1}  # fmt: skip
    return {"metadata": md, "runs": [{"metadata": {}, "values": [value] * 3,
                                      "warmups": [[1, value]]}]}  # fmt: skip


def _results(released_overlap: float, held_overlap: float, cpus: int = 2) -> Results:
    """Two modes with pyperf rows (speedups 1.9 and 1.0, shown as info) and progress rows
    carrying the overlap that the gate judges."""
    res = Results({"usable_cpus": cpus, "wasmtime_version": "50.0.1"}, "run")
    for mode, two, overlap in (("released", 1.05, released_overlap), ("held", 2.0, held_overlap)):
        res.add_benchmark(_bench(mode, 1, 1.0))
        res.add_benchmark(_bench(mode, 2, two))
        res.add_progress({"scenario": "s", "mode": mode, "via": "host mark",
                          "samples": [{"ratio": 0.9 if mode == "released" else 0.01,
                                       "call_s": 0.1, "rate_alone_per_s": 1.0}],
                          "overlap": [overlap] * 3, "overlap_threads": 2})  # fmt: skip
    return res


def test_gate_rules_pass_fail_and_unsure() -> None:
    cfg = gate.GateConfig()
    good = _results(released_overlap=0.95, held_overlap=0.0)
    rules = gate.judge(cfg, good, good)
    assert gate.exit_code(rules) == 0
    assert {r.rule for r in rules if r.verdict == "pass"} >= {
        "held serialises", "released overlaps", "released overlap vs baseline"}  # fmt: skip
    assert {r.verdict for r in rules if r.rule == "speedup (not judged)"} == {"info"}

    regressed = _results(released_overlap=0.0, held_overlap=0.0)  # released no longer overlaps
    rules = gate.judge(cfg, regressed, good)
    failed = {(r.rule, r.row) for r in rules if r.verdict == "fail"}
    assert failed == {("released overlaps", "s/mode=released/threads=2"),
                      ("released overlap vs baseline", "s/mode=released/threads=2")}  # fmt: skip
    assert gate.exit_code(rules) == 1
    assert "❌" in gate.markdown(rules) and "s/mode=released/threads=2" in gate.markdown(rules)

    one_core = _results(released_overlap=0.0, held_overlap=0.0, cpus=1)
    overlap = [r for r in gate.judge(cfg, one_core, None) if r.rule == "released overlaps"]
    assert [r.verdict for r in overlap] == ["unsure"]


def test_a_failed_measurement_is_an_error_not_a_pass() -> None:
    res = _results(0.95, 0.0)
    res.add_failure({"scenario": "s", "kind": "bench", "mode": "released", "threads": 2},
                    {"description": "crashed (SIGABRT)"})  # fmt: skip
    rules = gate.judge(gate.GateConfig(), res, None)
    assert gate.exit_code(rules) == 2


def test_overlap_fraction_reads_serialised_as_0_and_concurrent_as_1() -> None:
    from gvlbench.binding.measure import overlap_fraction

    assert overlap_fraction([0.1, 0.1], 0.2) == 0.0  # one after the other
    assert overlap_fraction([0.1, 0.1], 0.1) == 1.0  # side by side
    assert overlap_fraction([0.1, 0.2], 0.2) == 1.0  # one vCPU slower: still all at once
    assert overlap_fraction([0.1, 0.1], 0.15) == pytest.approx(0.5)
    assert overlap_fraction([0.2, 0.0], 0.2) == 0.0  # nothing to overlap


def _ruby_progress(res: Results, held_ratio: float, held_overlap: float) -> Results:
    for mode, ratio, overlap in (("held", held_ratio, held_overlap), ("released", 1.0, 0.99)):
        res.add_progress({"scenario": "s", "mode": mode, "via": "host mark",
                          "interpreter": "ruby3.1.2", "runtime": "ruby",
                          "samples": [{"ratio": ratio, "call_s": 0.2, "rate_alone_per_s": 1.0}],
                          "overlap": [overlap] * 3, "overlap_threads": 2})  # fmt: skip
    return res


def test_ruby_rows_are_their_own_axis_with_their_own_held_limit() -> None:
    """Ruby's held progress (one thread quantum in a long call) is judged against its own
    documented limit, its rows are named like its benchmarks, and a Ruby regression is caught
    even when Python's rows are fine."""
    cfg = gate.GateConfig()
    base = _ruby_progress(_results(0.95, 0.0), held_ratio=0.25, held_overlap=0.0)
    rules = gate.judge(cfg, base, base)
    ruby = {r.rule: r for r in rules if r.row.endswith("/ruby=3.1.2")}
    assert ruby["held stops the sibling"].verdict == "pass"  # 0.25 <= 0.5, not <= 0.1
    assert ruby["released overlap vs baseline"].verdict == "pass"  # matched its own baseline
    assert gate.exit_code(rules) == 0

    serialised = _ruby_progress(_results(0.95, 0.0), held_ratio=0.25, held_overlap=0.9)
    failed = {(r.rule, r.row) for r in gate.judge(cfg, serialised, base) if r.verdict == "fail"}
    assert failed == {("held serialises", "s/mode=held/threads=2/ruby=3.1.2")}


def test_gate_runtimes_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "g.toml"
    bad.write_text('[measure]\nruntimes = ["perl"]\n')
    with pytest.raises(ConfigError, match="runtimes"):
        gate.load_config(bad)
    assert gate.load_config(Path(__file__).resolve().parents[2] / "gate-ci.toml").runtimes == (
        "python", "ruby")  # fmt: skip


def test_compare_keeps_each_runtime_its_own_progress_row() -> None:
    from gvlbench.report.compare import compare

    res = _ruby_progress(_results(0.95, 0.0), held_ratio=0.25, held_overlap=0.0)
    _, progress = compare(res, res)
    assert {(p.interpreter, p.mode): p.base for p in progress} == {
        ("", "held"): 0.01, ("", "released"): 0.9,
        ("ruby3.1.2", "held"): 0.25, ("ruby3.1.2", "released"): 1.0}  # fmt: skip


def _verify_row(check: str, status: str, **runtime: str) -> dict[str, object]:
    return {"check": check, "mode": "held", "status": status, "detail": "x", **runtime}


def test_verify_baselines_match_old_labels_point_releases_and_not_other_pythons() -> None:
    """Baselines from before rows had `interpreter` put the label in `runtime` ('' for the
    default Python); a point release keeps its baseline row; two Pythons are never mixed."""
    old = Results(metadata={}, command="verify")
    old.verify = [_verify_row("trap", "PASS", runtime=""),
                  _verify_row("trap", "PASS", runtime="ruby3.1.2")]  # fmt: skip
    now = Results(metadata={}, command="verify")
    now.verify = [_verify_row("trap", "FAIL", runtime="python", interpreter="python3.11.7"),
                  _verify_row("trap", "FAIL", runtime="ruby", interpreter="ruby3.1.3")]  # fmt: skip
    rules = [r for r in gate._verify(now, old) if r.verdict == "fail"]
    assert [r.value for r in rules] == ["FAIL", "FAIL"]
    assert all(r.why == "passed in the baseline" for r in rules)

    two = Results(metadata={}, command="verify")
    two.verify = [
        _verify_row("trap", "PASS", runtime="python", interpreter="python3.11.7"),
        _verify_row("trap", "XFAIL", runtime="python", interpreter="python3.13.0t"),
    ]
    find = gate.baseline_lookup(two.verify, lambda v: (v["check"], v["mode"]), gate._verify_label)
    assert find(_verify_row("trap", "FAIL", interpreter="python3.13.0t"))["status"] == "XFAIL"
    assert find(_verify_row("trap", "FAIL", interpreter="python3.12.1")) is None  # ambiguous
