"""JUnit XML, the format CI systems read: one testsuite, one testcase per check or gate row."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from gvlbench.files import write_atomic


@dataclass(frozen=True)
class Case:
    name: str
    classname: str
    time_s: float
    outcome: str  # passed | failed | skipped | error
    message: str = ""
    output: str = ""


def write(path: Path, suite: str, cases: list[Case]) -> None:
    """Write the XML atomically (a temporary file beside it, then a rename)."""
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                       failures=str(sum(c.outcome == "failed" for c in cases)),
                       errors=str(sum(c.outcome == "error" for c in cases)),
                       skipped=str(sum(c.outcome == "skipped" for c in cases)),
                       time=f"{sum(c.time_s for c in cases):.3f}")  # fmt: skip
    for c in cases:
        tc = ET.SubElement(ts, "testcase", name=c.name, classname=c.classname,
                           time=f"{c.time_s:.3f}")  # fmt: skip
        if c.outcome in ("failed", "error", "skipped"):
            tag = {"failed": "failure", "error": "error", "skipped": "skipped"}[c.outcome]
            ET.SubElement(tc, tag, message=c.message).text = c.message
        if c.output:
            ET.SubElement(tc, "system-out").text = c.output
    buf = io.BytesIO()
    ET.ElementTree(root).write(buf, encoding="utf-8", xml_declaration=True)
    write_atomic(path, buf.getvalue())
