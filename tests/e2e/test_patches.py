"""`--patch` through the real CLI: a known defect a patch fixes is reported as fixed by it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import gvlbench


def test_thread_local_exceptions_fixes_exceptions_concurrent_in_both_modes(tmp_path: Path) -> None:
    out = tmp_path / "verify.json"
    cli = gvlbench("verify", "--check", "exceptions-concurrent", "--repeat", "3",
                   "--patch", "thread-local-exceptions", "--json", str(out))  # fmt: skip
    assert cli.returncode == 0, cli.stdout + cli.stderr
    doc = json.loads(out.read_text())
    rows = doc["gvlbench"]["verify"]
    assert [(r["mode"], r["status"], r["failed"]) for r in rows] == [
        ("held", "FIXED", 0), ("released", "FIXED", 0)]  # fmt: skip
    assert {r["fixed_by"] for r in rows} == {"thread-local-exceptions"}
    assert doc["metadata"]["patches"] == "thread-local-exceptions"
    assert "passed with --patch thread-local-exceptions" in cli.stdout


def test_an_unknown_patch_and_a_patch_for_ruby_are_one_line() -> None:
    ruby = ["--patch", "store-guard", "--runtime", "ruby"]
    for args, needle in ((["--patch", "nope"], "unknown patch 'nope'"),
                         (ruby, "drop --runtime ruby")):  # fmt: skip
        cli = gvlbench("verify", "--check", "results", *args)
        assert cli.returncode == 2 and "Traceback" not in cli.stderr
        (line,) = [ln for ln in cli.stderr.splitlines() if ln.startswith("gvlbench: error:")]
        assert needle in line
