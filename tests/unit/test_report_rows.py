"""Rows derived from results documents: race trials summarised and judged, pool jobs merged,
sweep points paired. Pure logic on hand-built documents; nothing runs."""

from __future__ import annotations

from typing import Any

import pytest

from gvlbench.report.pool import PoolRow, pool_rows
from gvlbench.report.race import RaceRow, check_expectation, signature, summarize
from gvlbench.report.sweep import SweepRow, sweep_rows
from gvlbench.results import Results


def _trial(config: str, status: str, **kw: Any) -> dict[str, Any]:
    return {"config": config, "trial_status": status, "after_start_s": None, "duration_s": 1.0,
            "exceptions": {}, "refused": 0, "calls": 0, "signal": None, "panic": None,
            **kw}  # fmt: skip


def test_summarize_counts_each_configuration_in_the_order_first_seen() -> None:
    trials = [
        _trial("shared, released", "crashed", signal="SIGABRT", panic="stackwalk.rs:265",
               after_start_s=0.2, duration_s=0.9),
        _trial("per-thread, released", "survived", calls=100),
        _trial("shared, released", "crashed", signal="SIGSEGV", after_start_s=None,
               duration_s=0.6),  # no start marker: the child's whole life is the time
        _trial("shared, released", "crashed", signal="SIGABRT", panic="stackwalk.rs:265",
               after_start_s=1.4),
        _trial("shared, released", "hung"),
        _trial("per-thread, released", "raised", calls=50, refused=7,
               exceptions={"StoreInUseError": 3, "Trap": 1}),
        _trial("per-thread, released", "raised", calls=5, exceptions={"StoreInUseError": 2}),
        _trial("per-thread, released", "failed"),
    ]  # fmt: skip
    shared, per_thread = summarize(trials)
    assert shared == RaceRow(
        "shared, released", trials=4, crashed=3, raised=0, hung=1, survived=0, failed=0,
        crash_rate=0.75, crash_median_s=0.6, crash_max_s=1.4,
        signatures={"SIGABRT stackwalk.rs:265": 2, "SIGSEGV": 1}, exceptions={},
        refused=0, calls=0,
    )  # fmt: skip
    assert per_thread.config == "per-thread, released"
    assert (per_thread.trials, per_thread.crashed, per_thread.raised, per_thread.survived,
            per_thread.failed, per_thread.hung) == (4, 0, 2, 1, 1, 0)  # fmt: skip
    assert per_thread.crash_rate == 0.0
    assert per_thread.crash_median_s is None and per_thread.crash_max_s is None
    assert per_thread.signatures == {}
    assert per_thread.exceptions == {"StoreInUseError": 5, "Trap": 1}
    assert (per_thread.refused, per_thread.calls) == (7, 155)
    assert summarize([]) == []


def test_signature_is_only_for_crashes() -> None:
    assert signature(_trial("c", "crashed", signal="SIGABRT", panic="a.rs:1")) == "SIGABRT a.rs:1"
    assert signature(_trial("c", "crashed", signal="SIGSEGV")) == "SIGSEGV"
    assert signature(_trial("c", "raised", signal="SIGSEGV")) is None


def _race_row(config: str, crashed: int = 0, hung: int = 0, failed: int = 0) -> RaceRow:
    trials = 3
    return RaceRow(config, trials, crashed, 0, hung, trials - crashed - hung - failed, failed,
                   crashed / trials, None, None)  # fmt: skip


def test_expect_crash_wants_every_configuration_to_crash() -> None:
    rows = [_race_row("shared", crashed=1), _race_row("guard", hung=1)]
    assert check_expectation(rows, "crash") == ["guard: expected a crash, 3 trial(s) did not crash"]
    assert check_expectation([_race_row("a", crashed=3), _race_row("b", crashed=1)], "crash") == []


@pytest.mark.parametrize(
    ("row", "bad"),
    [
        (_race_row("x"), False),
        (_race_row("x", crashed=1), True),
        (_race_row("x", hung=1), True),
        (_race_row("x", failed=1), True),
    ],
)
def test_expect_safe_refuses_any_crash_hang_or_failure(row: RaceRow, bad: bool) -> None:
    problems = check_expectation([row], "safe")
    if bad:
        assert problems == [
            f"x: expected safe, got {row.crashed} crashed, {row.hung} hung, "
            f"{row.failed} failed of 3"
        ]
    else:
        assert problems == []


def test_no_expectation_judges_nothing() -> None:
    assert check_expectation([_race_row("x", crashed=3)], "") == []


def _pool(executor: str, threads: int, wall_s: list[float], rss: int, **kw: Any) -> dict:
    return {"scenario": "spin", "executor": executor, "threads": threads, "wall_s": wall_s,
            "peak_rss_kib": rss, "calls": 40, **kw}  # fmt: skip


def test_pool_rows_merge_jobs_and_take_speedup_against_one_thread() -> None:
    res = Results({}, "run")
    res.pool = [
        _pool("threads", 1, [4.0], 1024),
        _pool("processes", 2, [3.0], 4096),
        _pool("threads", 2, [2.0], 2048),
        _pool("threads", 1, [4.0, 6.0], 3072),  # a second job of the same row: merged
        _pool("processes", 2, [1.0], 5120),
        _pool("threads", 1, [10.0], 1024, interpreter="python3.13.0"),  # its own baseline
        _pool("threads", 2, [2.5], 1024, interpreter="python3.13.0"),
    ]
    res.failures = [{"scenario": "spin", "kind": "pool", "executor": "processes", "threads": 1,
                     "description": "crashed (SIGKILL)"},
                    {"scenario": "spin", "kind": "bench", "threads": 1, "mode": "held",
                     "description": "not a pool row"}]  # fmt: skip
    rows = pool_rows(res)
    assert [(r.interpreter, r.workers, r.executor, r.status) for r in rows] == [
        ("", 1, "threads", "ok"),
        ("", 1, "processes", "crashed (SIGKILL)"),
        ("", 2, "threads", "ok"),
        ("", 2, "processes", "ok"),
        ("python3.13.0", 1, "threads", "ok"),
        ("python3.13.0", 2, "threads", "ok"),
    ]
    one, failed, two_threads, two_procs, other_one, other_two = rows
    assert one == PoolRow("spin", "threads", 1, "ok", 4.0, 4.0, 6.0, 10.0, 1.0, 3.0)
    assert failed == PoolRow("spin", "processes", 1, "crashed (SIGKILL)")
    assert two_threads.speedup == 2.0 and two_threads.calls_per_s == 20.0
    assert (two_procs.wall_median_s, two_procs.wall_min_s, two_procs.wall_max_s) == (2.0, 1.0, 3.0)
    assert two_procs.peak_rss_mib == 5.0  # the highest of the merged jobs
    assert other_one.speedup == 1.0 and other_two.speedup == 4.0


def test_pool_rows_without_a_one_thread_job_have_no_speedup() -> None:
    res = Results({}, "run")
    res.pool = [_pool("processes", 2, [2.0], 1024)]
    (row,) = pool_rows(res)
    assert row.speedup is None and row.wall_median_s == 2.0


def _point(path: str, size: int, kind: str, values: list[float]) -> dict[str, Any]:
    md = {"call_path": path, "work_size": size, "mode": "released" if kind == "alone" else kind}
    if kind == "alone":
        md["alone"] = True
    return {"metadata": md, "runs": [{"values": values[:2]}, {"values": values[2:]}]}


def _sweep(min_gain: float | None = None) -> Results:
    res = Results({} if min_gain is None else {"sweep_min_gain": min_gain}, "sweep")
    res.benchmarks = [
        _point("lean", 1000, "held", [1.0, 1.0, 1.0, 1.0]),
        _point("lean", 1000, "released", [1.0, 1.0, 1.0, 1.0]),
        _point("lean", 1000, "alone", [0.001, 0.003, 0.002]),
        _point("stock", 10, "held", [2.0, 2.2, 1.8, 2.0]),
        _point("stock", 10, "released", [1.0, 1.0, 1.0, 1.0]),
        _point("lean", 10, "held", [2.0, 2.2, 1.8, 2.0]),
        _point("lean", 10, "released", [1.0, 1.0, 1.0, 1.0]),
        _point("lean", 5000, "held", [1.0, 1.0, 1.0]),  # no released series: failed
    ]
    res.failures = [{"kind": "sweep-point", "call_path": "stock", "work_size": 99,
                     "description": "hung"}]  # fmt: skip
    return res


def test_sweep_rows_pair_rounds_per_size_and_order_by_call_path() -> None:
    rows = sweep_rows(_sweep())
    assert [(r.path, r.size, r.verdict) for r in rows] == [
        ("stock", 10, "faster"), ("stock", 99, "failed"),
        ("lean", 10, "faster"), ("lean", 1000, "same"), ("lean", 5000, "failed"),
    ]  # fmt: skip
    by = {(r.path, r.size): r for r in rows}
    assert by[("lean", 10)] == SweepRow("lean", 10, None, 2.0, 1.0, 2.0, "faster", True)
    same = by[("lean", 1000)]
    assert same.wasm_s == 0.002 and same.gain == 1.0 and not same.pays
    assert by[("lean", 5000)] == SweepRow("lean", 5000, None, None, None, None, "failed", False)


def test_a_gain_below_the_minimum_does_not_pay_even_when_significant() -> None:
    rows = {(r.path, r.size): r for r in sweep_rows(_sweep(min_gain=1.5))}
    assert rows[("lean", 10)].verdict == "faster" and rows[("lean", 10)].gain == 2.0
    assert rows[("lean", 10)].pays is False  # needs 2.5x
    rows = {(r.path, r.size): r for r in sweep_rows(_sweep(min_gain=0.5))}
    assert rows[("lean", 10)].pays is True
