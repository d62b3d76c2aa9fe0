"""Phases end to end (issue 13): a real `run` times compile, instantiate and call apart per
mode and thread count, prints them, writes them, and `show` and `report` read them back."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import gvlbench

# --rounds 3: the paired speedup (--fast: 10 rounds, 10 s of a 13 s run) is not what these
# tests read; the phases children keep their own 3 rounds (ROUNDS)
RUN = ("--threads", "2", "--fast", "--rounds", "3", "--progress-repeats", "0")
PHASES = ("compile_s", "instantiate_s", "call_s")
ROUNDS = 3  # PhasesTask's default


def _run(scenario: str, out: Path) -> str:
    cli = gvlbench("run", scenario, *RUN, "--json", str(out))
    assert cli.returncode == 0, cli.stderr
    return " ".join(cli.stdout.split())  # the caption wraps to the terminal


def _rows(out: Path) -> list[dict]:
    return json.loads(out.read_text())["gvlbench"]["phases"]


@pytest.mark.parametrize("scenario", ["spin", "wasi_spin"])
def test_run_times_each_phase_for_every_mode_and_thread_count(
    scenario: str, tmp_path: Path
) -> None:
    out = tmp_path / f"{scenario}.json"
    stdout = _run(scenario, out)
    assert f"Phases per thread: compile, instantiate, call: {scenario}" in stdout
    command_note = "time instantiate + call (what an embedder pays per request)" in stdout
    assert command_note == (scenario == "wasi_spin")  # only a WASI command's table says it

    rows = _rows(out)
    assert sorted((r["mode"], r["threads"]) for r in rows) == [
        ("held", 1), ("held", 2), ("released", 1), ("released", 2)]  # fmt: skip
    for row in rows:
        assert row["scenario"] == scenario and row["call_path"] == "stock"
        assert row["wasi_command"] is (scenario == "wasi_spin")
        for phase in PHASES:  # every thread of every round, each a real time
            assert len(row[phase]) == ROUNDS * row["threads"], (phase, row)
            assert all(s > 0 for s in row[phase]), (phase, row)
        # the call is the heavy part of both built-ins (~25-30 ms of Wasm)
        assert min(row["call_s"]) > max(row["instantiate_s"]), row

    shown = gvlbench("show", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    derived = shown.json()["phases"]
    assert len(derived) == 4 and all(r["status"] == "ok" for r in derived)
    for r in derived:
        total = r["compile_share"] + r["instantiate_share"] + r["call_share"]
        assert r["compile_s"] > 0 and r["instantiate_s"] > 0 and r["call_s"] > 0
        assert total == pytest.approx(1.0)

    made = gvlbench("report", str(out), "--out", str(tmp_path / "report"))
    assert made.returncode == 0, made.stderr
    page = (tmp_path / "report" / "README.md").read_text()
    assert "| compile | instantiate | call |" in page
    pattern = re.compile(rf"\| {scenario} \| - \| \w+ \| [12] \| .* \| [\d.]+% \|")
    phase_lines = [ln for ln in page.splitlines() if pattern.fullmatch(ln)]
    assert len(phase_lines) == 4, page
