"""Pure logic of compare and gate: Welch's verdicts, config validation, rule verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from gvlbench import gate
from gvlbench.compare import welch
from gvlbench.errors import SpecError
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
    good.write_text('[measure]\nscenarios = ["spin"]\nthreads = 4\n[tolerance]\nspeedup_drop = 1\n')
    cfg = gate.load_config(good)
    assert cfg.scenarios == ("spin",) and cfg.threads == 4 and cfg.speedup_drop == 1.0
    assert cfg.held_speedup_max == gate.GateConfig().held_speedup_max
    for body, needle in (("[measure]\nbogus = 1\n", "unknown key measure.bogus"),
                         ("[nope]\n", "unknown section"),
                         ('[measure]\nthreads = "2"\n', "must be a int"),
                         ("[measure]\nscenarios = [1]\n", "list of names"),
                         ("[[", "cannot read")):  # fmt: skip
        bad = tmp_path / "bad.toml"
        bad.write_text(body)
        with pytest.raises(SpecError, match=needle):
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


def _results(released_2: float, held_2: float, cpus: int = 2) -> Results:
    res = Results({"usable_cpus": cpus, "wasmtime_version": "50.0.1"}, "run")
    for mode, two in (("released", released_2), ("held", held_2)):
        res.add_benchmark(_bench(mode, 1, 1.0))
        res.add_benchmark(_bench(mode, 2, two))
    return res


def test_gate_rules_pass_fail_and_unsure() -> None:
    cfg = gate.GateConfig()
    good = _results(released_2=1.05, held_2=2.0)  # speedups 1.90 and 1.00
    rules = gate.judge(cfg, good, good)
    assert gate.exit_code(rules) == 0
    assert {r.rule for r in rules if r.verdict == "pass"} >= {
        "held serialises", "released overlaps", "released speedup vs baseline"}  # fmt: skip

    regressed = _results(released_2=2.0, held_2=2.0)  # released no longer overlaps
    rules = gate.judge(cfg, regressed, good)
    failed = {(r.rule, r.row) for r in rules if r.verdict == "fail"}
    assert failed == {("released overlaps", "s/mode=released/threads=2"),
                      ("released speedup vs baseline", "s/mode=released/threads=2")}  # fmt: skip
    assert gate.exit_code(rules) == 1
    assert "❌" in gate.markdown(rules) and "s/mode=released/threads=2" in gate.markdown(rules)

    one_core = _results(released_2=2.0, held_2=2.0, cpus=1)
    overlap = [r for r in gate.judge(cfg, one_core, None) if r.rule == "released overlaps"]
    assert [r.verdict for r in overlap] == ["unsure"]


def test_a_failed_measurement_is_an_error_not_a_pass() -> None:
    res = _results(1.05, 2.0)
    res.add_failure({"scenario": "s", "kind": "bench", "mode": "released", "threads": 2},
                    {"description": "crashed (SIGABRT)"})  # fmt: skip
    rules = gate.judge(gate.GateConfig(), res, None)
    assert gate.exit_code(rules) == 2
