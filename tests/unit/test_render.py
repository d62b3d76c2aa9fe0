"""Every table renders the rows it is given: drawn on a recording console, each row's values
appear in the text, and the optional columns come and go with the rows."""

from __future__ import annotations

import io

from rich.console import Console

from gvlbench.report import render
from gvlbench.report.calls import CallRow, CallsVerdict
from gvlbench.report.compare import CompareRow, ProgressCompareRow
from gvlbench.report.gate import Rule
from gvlbench.report.guard_cost import GuardCost, GuardCostRow
from gvlbench.report.pool import PoolRow
from gvlbench.report.race import RaceRow
from gvlbench.report.stats import ProgressRow, SpeedupRow
from gvlbench.report.sweep import SweepRow
from gvlbench.report.verify import CheckResult


def text(*renderables: object) -> str:
    """What a terminal 200 columns wide would show, markup resolved, without the colours."""
    console = Console(record=True, width=200, file=io.StringIO(), color_system=None)
    for r in renderables:
        console.print(r, soft_wrap=isinstance(r, str))
    return console.export_text()


def _lines_with(shown: str, *cells: str) -> list[str]:
    return [ln for ln in shown.splitlines() if all(c in ln for c in cells)]


def test_fmt_time_picks_a_unit() -> None:
    assert [render.fmt_time(s) for s in (None, 2.5, 0.0123, 4.5e-6, 7e-9)] == [
        "-", "2.5s", "12.3ms", "4.5us", "7ns"]  # fmt: skip


def test_speedup_table_one_scenario() -> None:
    rows = [SpeedupRow("spin", "held", 1, "ok", 0.1, 0.001, 6, 10.0, 1.0, 1.0),
            SpeedupRow("spin", "released", 2, "ok", 0.05, 0.002, 6, 40.0, 1.98, 0.99)]  # fmt: skip
    shown = text(render.speedup_table(rows, cpus=2))
    assert "Parallel speedup: spin" in shown and "status" not in shown
    assert _lines_with(shown, "held", "100ms", "1ms", "10.0", "1.00")
    assert _lines_with(shown, "released", "50ms", "2ms", "40.0", "1.98", "0.99")
    assert "min(threads, 2 cores)" in " ".join(shown.split())


def test_speedup_table_adds_scenario_runtime_path_and_status_when_rows_need_them() -> None:
    rows = [SpeedupRow("spin", "held", 1, "ok", 0.1, 0.0, 3, 10.0, 1.0, 1.0,
                       interpreter="python3.13.0", call_path="lean"),
            SpeedupRow("mark", "released", 2, "crashed (SIGABRT)", interpreter="ruby3.1.2",
                       call_path="stock")]  # fmt: skip
    shown = text(render.speedup_table(rows, cpus=2))
    header = _lines_with(shown, "scenario", "runtime", "path", "mode", "status")
    assert header, shown
    assert _lines_with(shown, "spin", "python3.13.0", "lean", "held", "ok")
    assert _lines_with(shown, "mark", "ruby3.1.2", "stock", "released", "crashed (SIGABRT)")


def test_progress_table() -> None:
    rows = [ProgressRow("mark", "held", "ok", "host mark", 0.021, 0.01, 0.03, 0.131, 5,
                        overlap_median=0.0, overlap_threads=2),
            ProgressRow("mark", "released", "ok", "host mark", 0.987, 0.95, 1.0, 0.129, 5,
                        overlap_median=0.96, overlap_threads=2)]  # fmt: skip
    shown = text(render.progress_table(rows))
    assert "Sibling progress during the call: mark" in shown
    assert _lines_with(shown, "held", "host mark", "0.021", "0.010", "0.030", "131ms", "0.00 @2")
    assert _lines_with(shown, "released", "0.987", "0.950", "1.000", "129ms", "0.96 @2")


def test_race_table() -> None:
    crashed = RaceRow("shared, released", 4, 3, 0, 1, 0, 0, 0.75, 0.6, 1.4,
                      {"SIGABRT stackwalk.rs:265": 2, "SIGSEGV": 1})  # fmt: skip
    guarded = RaceRow("shared, released, guard", 2, 0, 2, 0, 0, 0, 0.0, None, None, {},
                      {"StoreInUseError": 5, "Trap": 1}, refused=7, calls=1000)  # fmt: skip
    shown = text(render.race_table([crashed, guarded], threads=8, duration_s=5.0))
    assert "Store race: 8 threads calling in a loop, each up to 5 s" in shown
    assert _lines_with(shown, "shared, released", "4", "3 (75%)", "600ms / 1.4s")
    assert "2x SIGABRT stackwalk.rs:265" in shown and "1x SIGSEGV" in shown
    assert _lines_with(shown, "shared, released, guard", "0 (0%)", "1x Trap")
    assert "StoreInUseError" not in shown  # the guard's refusals are counted, not listed
    assert "guard refused 7 of 1,007 calls" in shown


def test_race_table_has_a_wrong_column_whenever_a_trial_was_wrong() -> None:
    """A scenario race (no code compared) whose own check found wrong trials: the trials
    must add up across the columns, so the wrong column is shown."""
    wrong = RaceRow("shared, released", 5, 0, 3, 0, 0, 0, 0.0, None, None, {},
                    {"PoisonedStoreError": 9}, wrong=2, wrong_results=2,
                    wrong_example="echo returned 'a', expected 'b'")  # fmt: skip
    shown = text(render.race_table([wrong], threads=4, duration_s=1.0))
    assert _lines_with(shown, "shared, released", "5", "0 (0%)", "3", "2", "0")
    assert _lines_with(shown, "trials", "raised", "wrong", "lived")
    right = RaceRow("per-thread, released", 5, 0, 0, 0, 5, 0, 0.0, None, None)
    shown = text(render.race_table([right], threads=4, duration_s=1.0))
    assert not _lines_with(shown, "trials", "wrong")


def test_guard_cost_table_puts_the_guards_side_by_side() -> None:
    row = GuardCostRow("nop", "lean", "held", 250.0, 40, (
        GuardCost("python", 310.0, 60.0, 55.0, 70.0, 0.24),
        GuardCost("native", 255.0, 5.0, 3.0, 8.0, 0.02),
    ))  # fmt: skip
    unavailable = GuardCostRow("add", "raw", "held", 300.0, 40, (
        GuardCost("python", 360.0, 60.0, 55.0, 70.0, 0.2),
        GuardCost("native", unavailable="native guard unavailable: no C compiler"),
    ))  # fmt: skip
    shown = text(render.guard_cost_table([row, unavailable]))
    assert _lines_with(shown, "nop", "lean", "held", "250ns", "+60ns [+55..+70]", "+24.0%",
                       "+5ns [+3..+8]", "+2.0%")  # fmt: skip
    assert _lines_with(shown, "add", "raw", "+60ns", "native guard unavailable")
    assert "no C compiler" in shown


def test_guard_cost_rows_read_both_guards_and_files_from_before_the_native_guard() -> None:
    from gvlbench.report.guard_cost import guard_cost_rows
    from gvlbench.results import Results

    res = Results({}, "race --guard-cost")
    res.guard_cost = [
        {"scenario": "nop", "call_path": "lean", "mode": "held", "unguarded_ns": [100, 100],
         "guarded_ns": {"native": [103, 105], "python": [300, 310]}},
        {"scenario": "nop", "call_path": "stock", "mode": "held", "unguarded_ns": [1000, 1000],
         "guarded_ns": [1300, 1300], "unavailable": {"native": "native guard unavailable: x"}},
    ]  # fmt: skip
    lean, stock = guard_cost_rows(res)
    assert [g.guard for g in lean.guards] == ["python", "native"]
    assert lean.guard("native").cost_ns == 4 and lean.guard("native").share == 0.04
    assert stock.guard("python").cost_ns == 300
    assert stock.guard("native").unavailable == "native guard unavailable: x"


def test_verify_table_and_notes() -> None:
    rows = [CheckResult("results", "held", "PASS", 0, 2, "", 0.1),
            CheckResult("wrong-arity", "released", "FAIL", 2, 2, "calls got the wrong outcome",
                        0.2, reproducer="findings/wrong-arity-released.py"),
            CheckResult("trap", "held", "XFAIL", 1, 2, "a trap was lost", 0.1,
                        known="upstream   issue\n 12"),
            CheckResult("limits", "held", "XPASS", 0, 2, "", 0.1, known="x")]  # fmt: skip
    shown = text(render.verify_table(rows))
    assert "runtime" not in shown
    assert _lines_with(shown, "results", "held", "PASS", "0/2")
    assert _lines_with(shown, "wrong-arity", "released", "FAIL", "2/2", "calls got the wrong")
    notes = text(*render.verify_notes(rows))
    assert "FINDING wrong-arity [released] failed 2/2 (100%): calls got the wrong outcome" in notes
    assert "reproducer: python findings/wrong-arity-released.py" in notes
    assert "KNOWN DEFECT trap [held] failed 1/2 (50%): upstream issue 12" in notes
    assert "NOTICE limits" in notes and "is listed as a known defect but passed" in notes
    assert "results" not in notes  # a PASS says nothing


def test_the_xpass_notice_names_the_mode() -> None:
    row = CheckResult("limits", "held", "XPASS", 0, 2, "", 0.1, known="x")
    assert "NOTICE limits [held] is listed" in text(*render.verify_notes([row]))


def test_verify_table_names_runtimes_when_rows_have_them() -> None:
    rows = [CheckResult("results", "held", "PASS", 0, 1, "", 0.1, interpreter="ruby3.1.2")]
    assert _lines_with(text(render.verify_table(rows)), "ruby3.1.2", "results", "PASS")


def test_compare_tables() -> None:
    rows = [CompareRow("spin/mode=held/threads=1", 0.1, 0.2, 1.0, "slower", 1.0, 1.0, 1.0, 0.5),
            CompareRow("spin/mode=held/threads=2", None, 0.2, None, "missing")]  # fmt: skip
    shown = text(render.compare_table(rows, "base.json", "now.json"))
    assert "base.json -> now.json" in shown
    assert _lines_with(shown, "spin/mode=held/threads=1", "100ms", "200ms", "+100.0%", "slower",
                       "1.00 -> 1.00", "1.00 -> 0.50")  # fmt: skip
    assert _lines_with(shown, "spin/mode=held/threads=2", "-", "200ms", "missing", "- -> -")
    progress = [ProgressCompareRow("mark", "released", 0.98, 0.51, "ruby3.1.2")]
    shown = text(render.progress_compare_table(progress, "base.json", "now.json"))
    assert _lines_with(shown, "mark", "ruby3.1.2", "released", "0.980", "0.510")


def test_gate_table_escapes_what_it_shows() -> None:
    rules = [Rule("released overlaps", "mark/mode=released/threads=2", "0.10", ">= 0.5", "fail",
                  "[bold]not markup[/bold]")]  # fmt: skip
    shown = text(render.gate_table(rules))
    assert _lines_with(shown, "fail", "released overlaps", "mark/mode=released/threads=2", "0.10",
                       ">= 0.5", "[bold]not markup[/bold]")  # fmt: skip


def test_failure_lines() -> None:
    failures = [
        {
            "scenario": "spin",
            "kind": "bench",
            "mode": "held",
            "threads": 2,
            "guard": True,
            "description": "crashed (SIGABRT)",
            "stderr_tail": ["a", "b", "c", "[d]"],
        }
    ]
    shown = text(*render.failure_lines(failures))
    assert "FAILED spin bench, held, 2 thread(s), guarded: crashed (SIGABRT)" in shown
    assert "[d]" in shown and "    a" not in shown  # the last three stderr lines only


def test_calls_table() -> None:
    rows = [CallRow("nop", "lean", "held", "ok", 2e-7, 1e-8, 5, over_raw=1.1, over_lean=1.0),
            CallRow("nop", "lean", "released", "ok", 3e-7, 2e-8, 5, over_raw=1.2, over_lean=1.0,
                    over_held=1.5),
            CallRow("nop", "stock", "held", "hung")]  # fmt: skip
    shown = text(render.calls_table(rows, CallsVerdict(1.2, 4.0)))
    assert _lines_with(shown, "nop", "lean", "200ns", "10ns", "300ns", "20ns", "1.50",
                       "1.10 / 1.20", "1.00 / 1.00")  # fmt: skip
    assert _lines_with(shown, "nop", "stock", "hung", "-")
    caption = " ".join(shown.split())
    assert "lean within 1.3x of raw: yes (worst 1.20x)" in caption
    assert "at least 5x lean: no (least 4.0x)" in caption


def test_sweep_table_and_crossover_lines() -> None:
    rows = [SweepRow("lean", 1000, 1e-6, 0.002, 0.002, 1.0, "same", False),
            SweepRow("lean", 100000, 1e-4, 0.2, 0.1, 2.0, "faster", True),
            SweepRow("stock", 1000, None, None, None, None, "failed", False)]  # fmt: skip
    shown = text(render.sweep_table(rows, threads=2))
    assert "Where releasing the lock pays: 2 threads" in shown
    assert _lines_with(shown, "lean", "1,000", "1us", "2ms", "1.00", "same", "no")
    assert _lines_with(shown, "lean", "100,000", "100us", "200ms", "100ms", "2.00", "faster",
                       "yes ◀ crossover")  # fmt: skip
    assert _lines_with(shown, "stock", "1,000", "failed", "no")
    assert render.crossover_lines(rows) == [  # in CallPath order: stock, then lean
        "stock: releasing the lock never paid at the sizes measured",
        "lean: releasing pays from 100,000 iterations (~100us of Wasm per call), gain 2.00",
    ]


def test_pool_table() -> None:
    rows = [PoolRow("spin", "threads", 2, "ok", 2.0, 1.5, 3.0, 20.0, 2.0, 12.0),
            PoolRow("spin", "processes", 2, "crashed (SIGKILL)")]  # fmt: skip
    shown = text(render.pool_table(rows))
    assert "process pool, start-up included: spin" in shown
    assert _lines_with(shown, "threads", "2", "2s", "1.5s", "3s", "20.0", "2.00", "12 MiB", "ok")
    assert _lines_with(shown, "processes", "crashed (SIGKILL)")


def test_rows_json_is_the_rows_fields() -> None:
    row = PoolRow("spin", "threads", 1, "ok", interpreter="python3.13.0")
    (doc,) = render.rows_json([row])
    assert doc["scenario"] == "spin" and doc["interpreter"] == "python3.13.0"
    assert doc["speedup"] is None
