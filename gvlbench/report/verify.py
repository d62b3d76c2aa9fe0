"""Verify's results: one row per (check, mode, runtime), its JUnit cases and the exit rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gvlbench.report import junit


@dataclass(frozen=True)
class CheckResult:
    check: str
    mode: str
    status: str  # PASS | FAIL | XFAIL | XPASS | FIXED (a known defect a --patch fixed)
    failed: int
    repeat: int
    detail: str
    elapsed_s: float
    known: str = ""
    reproducer: str = ""
    outcome: dict[str, Any] = field(default_factory=dict)
    runtime: str = "python"  # python | ruby, as in every other results row
    interpreter: str = ""  # its label (ruby3.1.2) when --runtime or --python was given
    call_path: str = "stock"
    fixed_by: str = ""  # FIXED: the binding patch(es) under which the known defect passed

    @property
    def rate(self) -> float:
        return self.failed / self.repeat if self.repeat else 1.0


def exit_ok(checked: list[CheckResult]) -> bool:
    """Only known defects may fail."""
    return all(r.status in ("PASS", "XFAIL", "XPASS", "FIXED", "N/A") for r in checked)


def junit_cases(checked: list[CheckResult]) -> list[junit.Case]:
    cases = []
    for r in checked:
        outcome = {"PASS": "passed", "XPASS": "passed", "FIXED": "passed", "FAIL": "failed",
                   "XFAIL": "skipped", "N/A": "skipped"}  # fmt: skip
        msg = r.detail
        if r.status == "XFAIL":
            msg = f"known defect ({r.failed}/{r.repeat} failed): {r.known} | {r.detail}"
        elif r.status == "XPASS":
            msg = f"known defect did not reproduce (fixed upstream?): {r.known}"
        elif r.status == "FIXED":
            msg = f"known defect fixed by --patch {r.fixed_by}: {r.known}"
        cases.append(junit.Case(f"{r.check}[{r.mode}]", "gvlbench.verify", r.elapsed_s,
                                outcome[r.status], msg, msg))  # fmt: skip
    return cases
