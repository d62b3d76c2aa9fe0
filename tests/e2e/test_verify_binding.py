"""`gvlbench verify`'s races of wasmtime-py's own Python code: many threads on one Engine."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gvlbench.checklist import CHECKS, COMPONENT_CHECKS, PYTHON_ONLY
from tests.conftest import gvlbench


def test_the_binding_races_pass_in_both_modes_with_at_least_8_threads(tmp_path: Path) -> None:
    """Each runs its own row per mode, in CHECKS order, and passes: every attempt of every
    thread right (the note counts them), 8 threads though --threads asks for 2."""
    out = tmp_path / "verify.json"
    # exception-handoff is Python-only too, but a race of one hand-off, not of an Engine's
    # wrappers: its own test is tests/e2e/test_freethreaded.py's finding; the component
    # checks are Python-only as well, tested in tests/e2e/test_component.py
    checks = [c for c in CHECKS if c in PYTHON_ONLY - COMPONENT_CHECKS and c != "exception-handoff"]
    args = [a for c in checks for a in ("--check", c)]
    cli = gvlbench("verify", *args, "--repeat", "1", "--threads", "2", "--json", str(out))
    assert cli.returncode == 0, cli.stdout + cli.stderr
    rows = json.loads(out.read_text())["gvlbench"]["verify"]
    assert [(r["check"], r["mode"]) for r in rows] == [
        (c, m) for c in checks for m in ("held", "released")
    ]
    for r in rows:
        assert r["status"] == "PASS" and r["failed"] == 0 and r["outcome"]["status"] == "ok", r
        seen = re.fullmatch(r"(\d+) of (\d+) .+ right, 8 threads", r["detail"])
        assert seen and seen[1] == seen[2] and int(seen[2]) >= 8, r["detail"]
