"""Paired speedups: per-round ratios, their interval, and how tables and the gate judge them."""

from __future__ import annotations

import random

from gvlbench.modes import Mode
from gvlbench.report import gate, paired
from gvlbench.report.stats import speedup_rows
from gvlbench.results import Results, pyperf_benchmark
from gvlbench.worker.speedup import order


def test_interval_holds_the_median_and_narrows_with_rounds() -> None:
    rng = random.Random(1)
    few = [2.0 + rng.gauss(0, 0.1) for _ in range(8)]
    many = [2.0 + rng.gauss(0, 0.1) for _ in range(200)]
    a, b = paired.median_interval(few), paired.median_interval(many)
    assert a is not None and b is not None
    assert a.low <= a.median <= a.high and b.low <= b.median <= b.high
    assert b.high - b.low < a.high - a.low
    assert b.low < 2.0 < b.high
    assert paired.median_interval([]) is None
    assert paired.median_interval(few) == a  # a fixed seed: the same file, the same interval


def test_round_ratios_pair_the_same_round() -> None:
    # round 2 is slow for both cells: paired, its ratio is still 2
    one, two = [1.0, 1.0, 3.0], [1.0, 1.0, 3.0]
    assert paired.round_ratios(one, two, 2) == [2.0, 2.0, 2.0]


def test_impossible_is_judged_on_the_whole_interval() -> None:
    assert paired.impossible(paired.Interval(2.2, 2.1, 2.3, 20), threads=2, cpus=2)
    assert not paired.impossible(paired.Interval(2.1, 1.95, 2.3, 20), threads=2, cpus=2)
    assert not paired.impossible(paired.Interval(3.5, 3.4, 3.6, 20), threads=4, cpus=8)


def test_every_cell_leads_a_round_and_orders_reverse() -> None:
    cells = [("held", 1), ("held", 2), ("released", 1), ("released", 2)]
    firsts = {order(cells, r)[0] for r in range(len(cells) * 2)}
    assert firsts == set(cells)
    assert all(sorted(order(cells, r)) == sorted(cells) for r in range(9))


def _paired(released_2: list[float], held_2: list[float], cpus: int = 2) -> Results:
    """A run document as _record_speedup writes it: the cells' benchmarks and the rounds."""
    res = Results({"usable_cpus": cpus}, "run")
    ones = [0.1] * len(released_2)
    cells = {(Mode.RELEASED, 1): ones, (Mode.RELEASED, 2): released_2, (Mode.HELD, 1): ones,
             (Mode.HELD, 2): held_2}  # fmt: skip
    for (mode, t), seconds in cells.items():
        md = {"name": f"s/mode={mode}/threads={t}", "scenario": "s", "mode": mode,
              "threads": int(t), "call_path": "stock"}  # fmt: skip
        res.add_benchmark(pyperf_benchmark(md, seconds, 1))
    res.speedup.append({"scenario": "s", "kind": "speedup", "threads": 2, "guard": False,
                        "call_path": "stock", "loops": 1, "cells": cells})  # fmt: skip
    return res


def _verdicts(res: Results) -> dict[str, str]:
    return {r.rule: r.verdict for r in gate.judge(gate.GateConfig(), res, None)
            if "speed" in r.rule}  # fmt: skip


def test_gate_judges_the_interval_not_the_point() -> None:
    rng = random.Random(3)
    good = _paired([0.2 / (1.95 + rng.gauss(0, 0.02)) for _ in range(20)],
                   [0.2 * (1 + rng.gauss(0, 0.02)) for _ in range(20)])  # fmt: skip
    rows = {r.mode: r for r in speedup_rows(good) if r.threads == 2}
    assert 1.9 < rows["released"].speedup < 2.0 and rows["released"].flag == ""
    assert rows["released"].ci_low <= rows["released"].speedup <= rows["released"].ci_high
    assert rows["released"].best is not None and 1.9 < rows["released"].best < 2.1
    assert _verdicts(good) == {"released speeds up": "pass", "held does not speed up": "pass"}
    # released no faster than held: the whole interval under 1.3 fails
    slow = _paired([0.2 * (1 + rng.gauss(0, 0.02)) for _ in range(20)], [0.2] * 20)
    assert _verdicts(slow)["released speeds up"] == "fail"
    # rounds spread across the limit: unsure, whatever the median says
    wide = _paired([0.2 / rng.choice((1.1, 1.5, 1.9)) for _ in range(20)], [0.2] * 20)
    assert _verdicts(wide)["released speeds up"] == "unsure"
    # 2.5x on 2 cores is an error of the measurement, never a pass
    fast = _paired([0.2 / 2.5] * 20, [0.2] * 20)
    assert _verdicts(fast)["speedup is physical"] == "unsure"
    assert [r.flag for r in speedup_rows(fast) if r.mode == "released" and r.threads == 2] == [
        "impossible"
    ]


def test_the_fastest_rounds_see_through_a_slowed_core() -> None:
    # a lone thread always finds the fast core; half the 2-thread rounds end with a thread
    # on a core another tenant slows by 70%: one-sided, per-core noise that pairing cannot
    # cancel (the per-round median reads it as a lower speedup)
    rng = random.Random(5)
    one = [0.050 * (1 + abs(rng.gauss(0, 0.01))) for _ in range(20)]
    two = [0.050 * (1.7 if r % 2 else 1.0) * (1 + abs(rng.gauss(0, 0.01))) for r in range(20)]
    best = paired.best_ratio_interval(one, two, 2)
    typical = paired.median_interval(paired.round_ratios(one, two, 2))
    assert best is not None and typical is not None
    assert 1.95 < best.median <= 2.02 and best.low <= best.median <= best.high
    assert typical.median < 1.7
    assert paired.best_ratio_interval([], [], 2) is None
