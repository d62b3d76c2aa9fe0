"""Every numeric option finite and in range; options that conflict or would be ignored refused.

Each case was accepted once: `race --duration inf` became a measured "raised OverflowError"
trial (exit 0), `--duration nan` "survived" in 0.18 s, `trace --timeout nan` meant no timeout,
`race --timeout 0` ran, `--designs` ran beside `--guard-cost` or `--matrix` without a word,
`--guard-cost` ignored `--threads`, and `gate --current` on a trace's results file passed on
its two environment rows. Each is now one line and exit 2, before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, gvlbench, one_line_error

NUMBERS = [
    (["race", "--duration", "inf"], "--duration"),
    (["race", "--duration", "nan"], "--duration"),
    (["race", "--duration", "0"], "--duration"),
    (["race", "--duration", "-1"], "--duration"),
    (["race", "--timeout", "0"], "--timeout"),
    (["race", "--timeout", "nan"], "--timeout"),
    (["race", "--threads", "0"], "--threads"),
    (["race", "--trials", "-3"], "--trials"),
    (["trace", "--timeout", "nan", "--", "x.py"], "--timeout"),
    (["trace", "--timeout", "inf", "--", "x.py"], "--timeout"),
    (["run", "spin", "--timeout", "1e309"], "--timeout"),
    (["run", "spin", "--threads", "0"], "--threads"),
    (["run", "spin", "--rounds", "2"], "--rounds"),
    (["run", "spin", "--processes", "0"], "--processes"),
    (["run", "spin", "--progress-repeats", "-1"], "--progress-repeats"),
    (["verify", "--timeout", "nan"], "--timeout"),
    (["verify", "--repeat", "0"], "--repeat"),
    (["profile", "--stmt", "1", "--budget", "inf"], "--budget"),
    (["profile", "--stmt", "1", "--rounds", "0"], "--rounds"),
    (["sweep", "--min-gain", "nan"], "--min-gain"),
    (["calls", "--threads", "0"], "--threads"),
]


@pytest.mark.parametrize(("args", "flag"), NUMBERS, ids=[" ".join(a) for a, _ in NUMBERS])
def test_a_number_out_of_range_is_one_line(args: list[str], flag: str) -> None:
    one_line_error(gvlbench(*args, timeout=60), flag)


CONFLICTS = [
    (["race", "--designs", "--guard-cost"], ["--designs does not read --guard-cost"]),
    (["race", "--designs", "--matrix"], ["--designs does not read --matrix"]),
    (["race", "--designs", "--threads", "4"], ["--designs does not read --threads"]),
    (["race", "--guard-cost", "--threads", "4"], ["--guard-cost does not read --threads"]),
    (["race", "--guard-cost", "--expect", "crash"], ["--guard-cost does not read --expect"]),
    (["race", "--guard-cost", "--duration", "3", "--trials", "2"],
     ["--trials, --duration", "drop them"]),
    (["race", "--rounds", "3"], ["--rounds is for --guard-cost and --designs"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "words"), CONFLICTS, ids=[" ".join(a) for a, _ in CONFLICTS])
def test_options_that_conflict_or_would_be_ignored_are_one_line(
    args: list[str], words: list[str]
) -> None:
    one_line_error(gvlbench(*args, timeout=60), *words)


def test_a_gate_with_nothing_to_judge_is_an_error_not_a_pass(tmp_path: Path) -> None:
    program = tmp_path / "prog.py"
    program.write_text("import wasmtime\nwasmtime.Store()\n")
    traced = tmp_path / "trace.json"
    assert gvlbench("trace", "-q", "--json", str(traced), "--", str(program)).returncode == 0
    baseline = str(REPO / "baselines" / "ci.json")
    cli = gvlbench("gate", "--baseline", baseline, "--current", str(traced))
    one_line_error(cli, f"--current {traced}", "nothing the gate judges", "`trace`")


def test_a_gate_config_number_that_is_not_finite_is_one_line(tmp_path: Path) -> None:
    """TOML can spell nan and inf: a gate config's numbers are held to the options' rule."""
    for body, words in (("[measure]\nrace_duration = nan\n", "race_duration must be a finite"),
                        ("[invariants]\nreleased_overlap_min = inf\n", "must be a finite"),
                        ("[measure]\nthreads = -2\n", "threads must be 0 or more")):  # fmt: skip
        config = tmp_path / "gate.toml"
        config.write_text(body)
        baseline = str(REPO / "baselines" / "ci.json")
        one_line_error(gvlbench("gate", "--config", str(config), "--baseline", baseline), words)
