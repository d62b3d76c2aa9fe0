"""ThreadTeam, the results file and derived statistics: pure logic with real threads and files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from gvlbench import results as results_mod
from gvlbench.binding.measure import ThreadTeam
from gvlbench.errors import ResultsFileError
from gvlbench.harness.run import plan, thread_sweep
from gvlbench.report.stats import speedup_rows
from gvlbench.results import Results, write_results


def test_thread_team_runs_every_call_on_its_own_thread_per_round() -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        with lock:
            seen.append(threading.current_thread().name)

    team = ThreadTeam([call, call, call])
    assert team.run(4) > 0
    assert sorted(set(seen)) == ["gvlbench-0", "gvlbench-1", "gvlbench-2"]
    assert len(seen) == 12
    team.run(1)
    assert len(seen) == 15
    team.close()


def test_thread_team_reports_a_thread_error() -> None:
    def boom() -> None:
        raise ValueError("in a worker thread")

    team = ThreadTeam([lambda: None, boom])
    with pytest.raises(ValueError, match="in a worker thread"):
        team.run(1)
    team.close()


@pytest.mark.parametrize(
    ("n", "sweep"), [(1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (8, [1, 2, 4, 8]), (6, [1, 2, 4, 6])]
)
def test_thread_sweep(n: int, sweep: list[int]) -> None:
    assert thread_sweep(n) == sweep


def _bench(mode: str, threads: int, values: list[float]) -> dict:
    md = {"name": f"s/mode={mode}/threads={threads}", "unit": "second", "scenario": "s",
          "mode": mode, "threads": threads, "loops": 1}  # fmt: skip
    return {"metadata": md, "runs": [{"metadata": {}, "values": values, "warmups": [[1, 1.0]]}]}


def test_speedup_and_efficiency_come_from_medians_within_one_file() -> None:
    res = Results({"usable_cpus": 2}, "run")
    res.add_benchmark(_bench("released", 1, [1.0, 1.0, 1.2]))
    res.add_benchmark(_bench("released", 2, [1.0, 1.1, 1.0]))
    res.add_benchmark(_bench("held", 2, [2.0, 2.0, 2.0]))  # no 1-thread row: no speedup
    res.add_failure({"scenario": "s", "kind": "bench", "mode": "held", "threads": 1},
                    {"description": "crashed (SIGABRT)"})  # fmt: skip
    rows = {(r.mode, r.threads): r for r in speedup_rows(res)}
    assert rows[("released", 2)].speedup == pytest.approx(2.0)
    assert rows[("released", 2)].efficiency == pytest.approx(1.0)
    assert rows[("released", 2)].calls_per_s == pytest.approx(2.0)
    assert rows[("held", 2)].speedup is None
    assert rows[("held", 1)].status == "crashed (SIGABRT)"


def test_results_round_trip_and_atomic_write(tmp_path: Path) -> None:
    res = Results({"scenario": "s"}, "run")
    res.add_benchmark(_bench("held", 1, [1.0]))
    res.add_progress({"scenario": "s", "mode": "held", "via": "x", "samples": []})
    path = tmp_path / "sub" / "r.json"
    write_results(path, res)
    back = results_mod.load(path)
    assert back.to_json() == res.to_json()
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary left behind


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    doc = Results({}, "run").to_json()
    doc["gvlbench"]["schema"] = 2
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsFileError, match="newer"):
        results_mod.load(path)


def test_plan_pairs_every_cell_in_one_child_then_progress() -> None:
    from gvlbench.binding.invoke import Mode
    from gvlbench.harness.run import RunOptions
    from gvlbench.scenario import find

    steps = plan(RunOptions(find("spin"), 2))
    assert [(s.kind, str(s.mode), s.threads) for s in steps] == [
        ("speedup", "held", 2), ("progress", "held", 1), ("progress", "released", 1),
        ("phases", "held", 1), ("phases", "released", 1), ("phases", "held", 2),
        ("phases", "released", 2),
    ]  # fmt: skip
    only = plan(RunOptions(find("spin"), 1, modes=(Mode.HELD,), progress_repeats=0,
                           phases=False))  # fmt: skip
    assert [(s.kind, str(s.mode)) for s in only] == [("speedup", "held")]
    assert steps[0].modes == (Mode.HELD, Mode.RELEASED) and only[0].modes == (Mode.HELD,)
