"""compare, gate and report end to end, with real runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import REPO, gvlbench

CI_GATE = str(REPO / "gate-ci.toml")
BASELINE = str(REPO / "baselines" / "ci.json")


@pytest.fixture(scope="module")
def quick_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CI gate without race and verify: only the lock rules, measured for real."""
    path = tmp_path_factory.mktemp("gate") / "quick.toml"
    text = (REPO / "gate-ci.toml").read_text()
    text = text.replace("race_trials = 2", "race_trials = 0").replace(
        "confirm_runs = 2", "confirm_runs = 1"
    )
    path.write_text(text.replace("verify_repeat = 1", "verify_repeat = 0"))
    return path


def test_an_unchanged_build_passes_the_gate_against_the_committed_baseline(
    quick_config: Path, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    cli = gvlbench("gate", "--config", str(quick_config), "--baseline", BASELINE,
                   "--junit", str(tmp_path / "gate.xml"), "--json", str(tmp_path / "now.json"),
                   env={"GITHUB_STEP_SUMMARY": str(summary)})  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert summary.read_text().startswith("## gvlbench gate: PASS")
    suite = ET.parse(tmp_path / "gate.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    doc = json.loads((tmp_path / "now.json").read_text())
    assert doc["benchmarks"] and {r["verdict"] for r in doc["gate"]} >= {"pass"}


def test_holding_the_lock_where_release_was_asked_fails_the_gate_and_names_the_row(
    quick_config: Path, tmp_path: Path
) -> None:
    md = tmp_path / "gate.md"
    cli = gvlbench("gate", "--config", str(quick_config), "--baseline", BASELINE,
                   "--markdown", str(md), env={"GVLBENCH_FAULT": "held-for-released"})  # fmt: skip
    assert cli.returncode == 1, cli.stdout + cli.stderr
    failing = [ln for ln in md.read_text().splitlines() if ln.startswith("| ❌")]
    assert any("released overlaps | mark/mode=released/threads=2" in ln for ln in failing)
    assert any("released lets the sibling run" in ln for ln in failing)


def test_the_committed_baseline_passes_its_own_gate() -> None:
    cli = gvlbench("gate", "--config", CI_GATE, "--baseline", BASELINE, "--current", BASELINE)
    assert cli.returncode == 0, cli.stdout + cli.stderr


def test_gate_input_errors_exit_2(tmp_path: Path) -> None:
    cli = gvlbench("gate", "--baseline", str(tmp_path / "none.json"), "--current", BASELINE)
    assert cli.returncode == 2 and "bad results file" in cli.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[measure]\nthreads = 'x'\n")
    cli = gvlbench("gate", "--config", str(bad), "--baseline", BASELINE)
    assert cli.returncode == 2 and "measure.threads must be a int" in cli.stderr


def test_compare_a_file_with_itself_is_all_same() -> None:
    cli = gvlbench("compare", BASELINE, BASELINE, "--json")
    assert cli.returncode == 0, cli.stderr
    rows = cli.json()["rows"]
    assert rows and {r["verdict"] for r in rows} <= {"same", "unsure"}
    assert all(r["change"] == 0 for r in rows)


def test_report_draws_pngs_and_a_page(tmp_path: Path) -> None:
    cli = gvlbench("report", BASELINE, "--out", str(tmp_path))
    assert cli.returncode == 0, cli.stderr
    page = (tmp_path / "README.md").read_text()
    for name in ("speedup.png", "progress.png", "race.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
        assert f"]({name})" in page


def test_report_without_matplotlib_still_writes_the_page(tmp_path: Path, monkeypatch) -> None:
    from gvlbench import results
    from gvlbench.report import document as report

    monkeypatch.setattr(report, "_pyplot", lambda: None)
    made = report.write_report(results.load(Path(BASELINE)), "ci.json", tmp_path)
    assert made.images == () and "gvlbench[plot]" in made.note
    page = made.markdown.read_text()
    for runtime in ("python3.11.7", "ruby3.1.2"):  # the baseline gates both locks
        assert f"| mark | {runtime} | released |" in page
